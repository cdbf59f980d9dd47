#include "base/log.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace enforcer {

namespace {
std::atomic<int> g_max_level{static_cast<int>(LogLevel::kInfo)};
}

void log_set_level(LogLevel max_level) {
  g_max_level = static_cast<int>(max_level);
}

std::string escape_control(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += fmt::format("\\x{:02x}", u);
    }
  }
  return out;
}

void log_line(LogLevel level, std::string_view message) {
  if (static_cast<int>(level) > g_max_level.load(std::memory_order_relaxed)) return;
  const bool clean = std::none_of(message.begin(), message.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  std::string escaped;
  if (!clean) {
    escaped = escape_control(message);
    message = escaped;
  }
  static const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
  std::string line;
  if (journal) {
    line = fmt::format("<{}>{}\n", static_cast<int>(level), message);
  } else {
    const char* word = level == LogLevel::kError     ? "error: "
                       : level == LogLevel::kWarning ? "warning: "
                       : level == LogLevel::kDebug   ? "debug: "
                                                     : "";
    line = fmt::format("enforcerd: {}{}\n", word, message);
  }
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void log_lines(LogLevel level, std::string_view text) {
  while (!text.empty()) {
    const std::size_t end = std::min(text.find('\n'), text.size());
    if (end > 0) log_line(level, text.substr(0, end));
    text.remove_prefix(std::min(end + 1, text.size()));
  }
}

}  // namespace enforcer
