// Routes libbpf's messages into enforcer's log, and silences them while the datapath probes for
// things that may legitimately be absent (QuietLibbpf).
#include <bpf/libbpf.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <string_view>

#include "base/log.hpp"
#include "datapath/bpf_datapath.hpp"
#include "datapath/bpf_internal.hpp"

namespace enforcer {

namespace {

thread_local bool g_quiet_libbpf = false;

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  if (g_quiet_libbpf) return 0;
  char buf[2048];
  const int n = std::vsnprintf(buf, sizeof buf, format, args);
  const std::string_view text(buf, n > 0 ? std::min<std::size_t>(n, sizeof buf - 1) : 0);
  // One message may hold many lines (the verifier's log): each is a line of the log.
  log_lines(level == LIBBPF_WARN ? LogLevel::kWarning : LogLevel::kDebug, text);
  return 0;
}

}  // namespace

QuietLibbpf::QuietLibbpf() {
  g_quiet_libbpf = true;
}

QuietLibbpf::~QuietLibbpf() {
  g_quiet_libbpf = false;
}

void route_libbpf_log() {
  static const bool done = [] {
    libbpf_set_print(libbpf_print);
    return true;
  }();
  (void)done;
}

}  // namespace enforcer
