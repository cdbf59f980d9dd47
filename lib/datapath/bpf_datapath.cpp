// BpfDatapath's wiring: create() in its steps (leftovers, load and pin, attach), the destructor
// undoing them, and what reads the loaded object. The steps live in the files their comments name.
#include "datapath/bpf_datapath.hpp"

#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <net/if.h>

#include <cerrno>

#include "account.skel.h"
#include "base/log.hpp"
#include "base/text.hpp"

namespace enforcer {

Expected<std::vector<int>> interface_indexes(const std::vector<std::string>& names) {
  std::vector<int> out;
  for (const auto& name : names) {
    const unsigned idx = if_nametoindex(name.c_str());
    if (idx == 0) {
      const int err = errno;
      return Error{
          fmt::format("uplink interface \"{}\" does not exist ({})", name, errno_text(err)), err};
    }
    out.push_back(static_cast<int>(idx));
  }
  return out;
}

std::vector<std::string> all_interfaces() {
  std::vector<std::string> out;
  if (struct if_nameindex* all = if_nameindex()) {
    for (const struct if_nameindex* i = all; i->if_index != 0; ++i) out.emplace_back(i->if_name);
    if_freenameindex(all);
  }
  return out;
}

void BpfDatapath::DestroySkeleton::operator()(account* skel) const {
  account__destroy(skel);
}

BpfDatapath::BpfDatapath(BpfDatapathOptions options) : options_(std::move(options)) {}

// skel_ goes after the body: the programs and maps outlive their attachments and pins.
BpfDatapath::~BpfDatapath() {
  if (hold_) {
    // Pinned links stay attached; closing ours releases only this process's references.
    for (const CgroupAttachment& c : cgroups_) {
      if (c.egress) bpf_link__destroy(c.egress);
      if (c.ingress) bpf_link__destroy(c.ingress);
    }
    unmap_exact_table();
    log_info(
        "leaving the datapath attached to {} and pinned in {}, every experiment held to "
        "its allocation, for the next enforcerd to adopt",
        fmt::join(uplinks(), ", "), options_.pin_dir);
    return;
  }
  while (!cgroups_.empty()) detach_cgroup_at(cgroups_.size() - 1);
  detach_all();
  unpin_all();
  unmap_exact_table();
}

void BpfDatapath::confirm_limits_until(std::uint64_t monotonic_ns) {
  skel_->bss->limits_valid_until_ns = monotonic_ns;
}

void BpfDatapath::hold() {
  confirm_limits_until(1);  // in the past: every experiment's fallback holds from now on
  hold_ = true;
}

Expected<std::unique_ptr<BpfDatapath>> BpfDatapath::create(const BpfDatapathOptions& options) {
  route_libbpf_log();
  auto found = interface_indexes(options.interfaces);
  if (!found) return found.error();
  auto leftovers = find_leftovers(options, *found);
  if (!leftovers) return leftovers.error();

  std::unique_ptr<BpfDatapath> dp(new BpfDatapath(options));
  if (auto r = dp->load_and_pin(*leftovers); !r) return r.error();
  for (const auto& name : options.interfaces) {
    if (auto r = dp->attach(name); !r) return r.error();
  }
  dp->detach_stale(*leftovers);
  return dp;
}

std::vector<std::string> BpfDatapath::uplinks() const {
  std::vector<std::string> out;
  for (const auto& a : attachments_) out.push_back(a.interface);
  return out;
}

std::uint32_t BpfDatapath::prog_id(Program program) const {
  return prog_ids_[static_cast<int>(program)];
}

int BpfDatapath::counters_fd() const {
  return bpf_map__fd(skel_->maps.counters);
}

int BpfDatapath::program_fd(Program program) const {
  switch (program) {
    case Program::kEgressPolice:
      return bpf_program__fd(skel_->progs.tc_egress);
    case Program::kEgressEdt:
      return bpf_program__fd(skel_->progs.tc_egress_edt);
    case Program::kIngress:
      return bpf_program__fd(skel_->progs.tc_ingress);
    case Program::kCgroupEgress:
      return bpf_program__fd(skel_->progs.cgroup_egress);
    case Program::kCgroupIngress:
      return bpf_program__fd(skel_->progs.cgroup_ingress);
  }
  return -1;
}

}  // namespace enforcer
