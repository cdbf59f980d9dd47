// Minimal leveled logging to stderr. Under systemd (JOURNAL_STREAM set) each line carries a
// syslog priority prefix that journald understands; on a terminal, a word. A message is one line
// whatever it holds: control characters in it (a newline in a request's reason, in a stored file,
// in a cgroup's name) are escaped, so that nothing logged can forge a line or its priority.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace enforcer {

enum class LogLevel { kError = 3, kWarning = 4, kInfo = 6, kDebug = 7 };

void log_set_level(LogLevel max_level);
// `text` with each control character (below 0x20, and 0x7f) written as \n, \r, \t or \xNN.
std::string escape_control(std::string_view text);
void log_line(LogLevel level, std::string_view message);
// Logs each line of a text of several lines (a verifier log, a list of config errors) as a line
// of its own; empty lines are left out.
void log_lines(LogLevel level, std::string_view text);

template <typename... Args>
void log_error(fmt::format_string<Args...> f, Args&&... args) {
  log_line(LogLevel::kError, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void log_warning(fmt::format_string<Args...> f, Args&&... args) {
  log_line(LogLevel::kWarning, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void log_info(fmt::format_string<Args...> f, Args&&... args) {
  log_line(LogLevel::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void log_debug(fmt::format_string<Args...> f, Args&&... args) {
  log_line(LogLevel::kDebug, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace enforcer
