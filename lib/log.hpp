// Minimal leveled logging to stderr. Under systemd (JOURNAL_STREAM set) each line carries a
// syslog priority prefix that journald understands; on a terminal, a word.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace enforcer {

enum class LogLevel { kError = 3, kWarning = 4, kInfo = 6, kDebug = 7 };

void log_set_level(LogLevel max_level);
void log_line(LogLevel level, std::string_view message);

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
