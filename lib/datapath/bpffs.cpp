// The BPF filesystem the pins live on: telling one apart, and mounting one at /sys/fs/bpf where a
// host (or a test namespace) lacks it.
#include <fmt/format.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/statfs.h>

#include <cerrno>

#include "base/log.hpp"
#include "base/text.hpp"
#include "datapath/bpf_internal.hpp"

namespace enforcer {

bool is_bpffs(const std::string& path) {
  struct statfs st {};
  return statfs(path.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

// Hosts without systemd's usual mount (and test namespaces) may lack one at /sys/fs/bpf; mount it
// there, as systemd and Cilium do.
Expected<void> ensure_bpffs(const std::string& pin_dir) {
  const std::string standard = "/sys/fs/bpf";
  if (pin_dir.rfind(standard + "/", 0) == 0 && !is_bpffs(standard)) {
    if (mount("bpf", standard.c_str(), "bpf", 0, "mode=0700") != 0) {
      return errno_error(errno, "{} is not a BPF filesystem and mounting one there failed",
                         standard);
    }
    log_info("mounted a BPF filesystem at {}", standard);
  }
  return {};
}

}  // namespace enforcer
