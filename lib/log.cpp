#include "log.hpp"

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

void log_line(LogLevel level, std::string_view message) {
  if (static_cast<int>(level) > g_max_level.load(std::memory_order_relaxed)) return;
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

}  // namespace enforcer
