#include "privileges.hpp"

#include <fmt/format.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

namespace enforcer {

Expected<void> check_privileges() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) {
    return Error{"cannot read this process's capabilities"};
  }
  auto has = [&](int cap) { return (data[cap / 32].effective & (1U << (cap % 32))) != 0; };
  std::string missing;
  if (!has(CAP_NET_ADMIN)) missing += " CAP_NET_ADMIN";
  if (!has(CAP_BPF) && !has(CAP_SYS_ADMIN)) missing += " CAP_BPF";
  if (!has(CAP_SYS_ADMIN) && !has(CAP_PERFMON)) missing += " CAP_PERFMON";
  if (!missing.empty()) {
    return Error{
        fmt::format("enforcerd must run as root (missing capabilities:{}; running as uid "
                    "{})",
                    missing, getuid())};
  }
  return {};
}

std::uint64_t raise_open_file_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
  if (r.rlim_cur < r.rlim_max) {
    rlimit raised{r.rlim_max, r.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return r.rlim_max;
  }
  return r.rlim_cur;
}

}  // namespace enforcer
