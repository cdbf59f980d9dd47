// enforcerd --uninstall: removes the tc filters, cgroup links and pins a stopped daemon left
// behind, and leaves anyone else's filters alone.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "base/fd.hpp"
#include "base/text.hpp"
#include "datapath/bpf_datapath.hpp"
#include "datapath/bpf_internal.hpp"

namespace enforcer {

namespace {

// The name the kernel gives the program with this id ("" when it is gone).
std::string prog_name(std::uint32_t id) {
  const Fd fd(bpf_prog_get_fd_by_id(id));
  if (!fd) return {};
  bpf_prog_info info{};
  std::uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return {};
  return info.name;
}

bool is_tc_program_name(const std::string& name) {
  return std::find(std::begin(kTcPrograms), std::end(kTcPrograms), name) != std::end(kTcPrograms);
}

}  // namespace

UninstallReport uninstall_datapath(const std::string& pin_dir,
                                   const std::vector<std::string>& interfaces) {
  route_libbpf_log();
  UninstallReport report;
  // enforcer's filters: the programs pinned in pin_dir, or (pins already gone) programs of
  // enforcer's names at enforcer's handle and priority.
  const std::vector<std::uint32_t> ours = pinned_tc_prog_ids(pin_dir);
  for (const auto& interface : interfaces) {
    const int ifindex = static_cast<int>(if_nametoindex(interface.c_str()));
    if (ifindex == 0) {
      report.kept.push_back(
          fmt::format("interface {} does not exist: nothing to detach there", interface));
      continue;
    }
    for (auto point : {BPF_TC_EGRESS, BPF_TC_INGRESS}) {
      const char* where = point == BPF_TC_EGRESS ? "egress" : "ingress";
      const std::uint32_t id = attached_prog_id(ifindex, point);
      if (id == 0) continue;
      const std::string name = prog_name(id);
      const bool mine =
          std::find(ours.begin(), ours.end(), id) != ours.end() || is_tc_program_name(name);
      if (!mine) {
        report.kept.push_back(fmt::format(
            "interface {}: the tc {} filter at handle {:#x} priority {} runs program {} (\"{}\"), "
            "not enforcer's: left in place",
            interface, where, kTcHandle, kTcPriority, id, name));
        continue;
      }
      bpf_tc_hook hook = tc_hook(ifindex, point);
      bpf_tc_opts opts = tc_opts();
      if (int err = bpf_tc_detach(&hook, &opts); err) {
        report.errors.push_back(fmt::format("interface {}: cannot detach the tc {} program: {}",
                                            interface, where, errno_text(err)));
        continue;
      }
      report.removed.push_back(
          fmt::format("interface {}: detached the tc {} program {} (handle {:#x}, priority {})",
                      interface, where, name, kTcHandle, kTcPriority));
    }
  }
  for (const char* pin : kPins) {
    const std::string path = pin_dir + "/" + pin;
    if (unlink(path.c_str()) == 0) {
      report.removed.push_back(fmt::format("unpinned {}", path));
    } else if (errno != ENOENT) {
      report.errors.push_back(fmt::format("cannot remove {}: {}", path, errno_text(errno)));
    }
  }
  std::error_code ec;
  // The cgroup_skb links of host-network experiments: unpinned, they detach.
  const std::string links = pin_dir + "/cgroup_links";
  for (const auto& entry : std::filesystem::directory_iterator(links, ec)) {
    if (unlink(entry.path().c_str()) == 0) {
      report.removed.push_back(
          fmt::format("unpinned the cgroup_skb link {}", entry.path().string()));
    } else {
      report.errors.push_back(
          fmt::format("cannot remove {}: {}", entry.path().string(), errno_text(errno)));
    }
  }
  rmdir(links.c_str());
  if (std::filesystem::is_directory(pin_dir, ec)) {
    if (rmdir(pin_dir.c_str()) == 0) {
      report.removed.push_back(fmt::format("removed the directory {}", pin_dir));
    } else {
      report.kept.push_back(
          fmt::format("{} is not empty ({}): left in place", pin_dir, errno_text(errno)));
    }
  }
  return report;
}

}  // namespace enforcer
