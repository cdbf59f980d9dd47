// Loading the accounting programs in the libbpf-tools order: open the skeleton, size its maps,
// adopt a previous instance's maps (bpf_adopt.cpp), load, pin under bpf_pin_dir; and unpinning.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "account.skel.h"
#include "base/log.hpp"
#include "base/text.hpp"
#include "datapath/bpf_datapath.hpp"
#include "datapath/bpf_internal.hpp"
#include "enforcer_abi.h"

namespace enforcer {

std::vector<std::pair<const char*, bpf_map*>> BpfDatapath::map_pins() const {
  return {{"counters", skel_->maps.counters},     {"limits", skel_->maps.limits},
          {"charged", skel_->maps.charged},       {"shapers", skel_->maps.shapers},
          {"addr_v4", skel_->maps.addr_v4},       {"addr_v6", skel_->maps.addr_v6},
          {"addr_exact", skel_->maps.addr_exact}, {"addr_ctl", skel_->maps.addr_ctl},
          {"cgroup_ids", skel_->maps.cgroup_ids}, {"pod_cgroups", skel_->maps.pod_cgroups}};
}

Expected<void> BpfDatapath::load_and_pin(const std::vector<Leftover>& leftovers) {
  if (auto r = open_skeleton(); !r) return r;
  if (auto r = adopt_or_remove(leftovers); !r) return r;
  if (int err = account__load(skel_.get()); err) {
    return Error{fmt::format("cannot load the BPF programs: {} (the kernel's verifier log is "
                             "above)",
                             errno_text(err)),
                 -err};
  }
  if (auto r = pin_all(); !r) return r;
  if (auto r = read_prog_ids(); !r) return r;
  // An adopted exact table is the previous instance's (an older layout had none: created empty).
  const bool exact_adopted =
      adopted_ && std::find(created_on_adoption_.begin(), created_on_adoption_.end(),
                            std::string_view("addr_exact")) == created_on_adoption_.end();
  if (auto r = map_exact_table(exact_adopted); !r) return r;
  if (adopted_) {
    migrate_limits();
    // The unattributed counters go on like the experiments'.
    adopt_cgroup_links();
    return {};
  }
  return zero_counters(ENFORCER_UNATTRIBUTED_ID);
}

// Open and configure: the maps' sizes follow max_experiments.
Expected<void> BpfDatapath::open_skeleton() {
  ncpus_ = libbpf_num_possible_cpus();
  if (ncpus_ <= 0) return errno_error(ncpus_, "cannot count CPUs");

  skel_.reset(account__open());
  if (!skel_) return errno_error(errno, "cannot open the BPF object");
  const std::uint32_t ids = options_.max_experiments + 1;  // id 0 is unattributed
  const std::uint32_t prefixes = std::max<std::uint32_t>(1024, options_.max_experiments * 8);
  bpf_map__set_max_entries(skel_->maps.counters, ids);
  bpf_map__set_max_entries(skel_->maps.limits, ids);
  bpf_map__set_max_entries(skel_->maps.charged, ids);
  bpf_map__set_max_entries(skel_->maps.shapers, ids);
  bpf_map__set_max_entries(skel_->maps.addr_v4, prefixes);
  bpf_map__set_max_entries(skel_->maps.addr_v6, prefixes);
  // Two halves of the exact-address table (exact_table.hpp).
  const unsigned exact_bits = exact_slot_bits(options_.max_experiments);
  bpf_map__set_max_entries(skel_->maps.addr_exact, 2u << exact_bits);
  skel_->rodata->exact_slot_bits = exact_bits;
  // One cgroup per host-network experiment, twice over: a restarted container's new cgroup is
  // attached before its old one is detached.
  bpf_map__set_max_entries(skel_->maps.cgroup_ids, options_.max_experiments * 2);
  bpf_map__set_max_entries(skel_->maps.pod_cgroups, options_.max_experiments * 2);
  // In the past, so not 0 ("hold as set"): the fallbacks hold until the daemon's first tick has
  // set and confirmed its own limits (an adopted map holds a previous daemon's last decisions).
  if (options_.limits_need_confirming) skel_->bss->limits_valid_until_ns = 1;
  return {};
}

Expected<void> BpfDatapath::pin_all() {
  if (auto r = ensure_bpffs(options_.pin_dir); !r) return r;
  std::error_code ec;
  std::filesystem::create_directories(options_.pin_dir, ec);
  if (ec)
    return Error{fmt::format("cannot create bpf_pin_dir {}: {}", options_.pin_dir, ec.message())};
  if (!is_bpffs(options_.pin_dir)) {
    return Error{
        fmt::format("bpf_pin_dir {} is not on a BPF filesystem (mount -t bpf bpf "
                    "/sys/fs/bpf)",
                    options_.pin_dir)};
  }
  auto pin = [&](const char* name, int err_or_zero) -> Expected<void> {
    if (err_or_zero) {
      return errno_error(err_or_zero, "cannot pin {}/{}", options_.pin_dir, name);
    }
    pinned_.push_back(options_.pin_dir + "/" + name);
    return {};
  };
  const std::string dir = options_.pin_dir + "/";
  for (auto [name, map] : map_pins()) {
    // Adopted maps are pinned there already (they are those pins).
    const bool pinned =
        adopted_ && std::find(created_on_adoption_.begin(), created_on_adoption_.end(),
                              std::string_view(name)) == created_on_adoption_.end();
    // A map created on adoption may replace an older layout's pin (limits).
    if (adopted_ && !pinned) unlink((dir + name).c_str());
    if (auto r = pin(name, pinned ? 0 : bpf_map__pin(map, (dir + name).c_str())); !r) return r;
  }
  for (auto [name, prog] : {std::pair{"tc_egress", skel_->progs.tc_egress},
                            std::pair{"tc_egress_edt", skel_->progs.tc_egress_edt},
                            std::pair{"tc_ingress", skel_->progs.tc_ingress}}) {
    // The previous instance's programs keep running from their filters until attach() swaps
    // them; only their pins go.
    if (adopted_) unlink((dir + name).c_str());
    if (auto r = pin(name, bpf_program__pin(prog, (dir + name).c_str())); !r) return r;
  }
  return {};
}

Expected<void> BpfDatapath::read_prog_ids() {
  for (auto program : {Program::kEgressPolice, Program::kEgressEdt, Program::kIngress,
                       Program::kCgroupEgress, Program::kCgroupIngress}) {
    bpf_prog_info info{};
    std::uint32_t len = sizeof info;
    if (int err = bpf_obj_get_info_by_fd(program_fd(program), &info, &len); err) {
      return errno_error(err, "cannot read the loaded programs' ids");
    }
    prog_ids_[static_cast<int>(program)] = info.id;
  }
  return {};
}

void BpfDatapath::migrate_limits() {
  if (!old_limits_) return;
  bpf_map_info info{};
  std::uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(old_limits_.get(), &info, &len) != 0) return;
  // enforcer_limit only ever grows at its end: an older value is a prefix of the new one, and
  // what it lacks (the fallback) starts as the rate it held, until the daemon's first tick.
  const int fd = bpf_map__fd(skel_->maps.limits);
  std::vector<std::uint8_t> old_value(info.value_size);
  std::uint32_t migrated = 0;
  for (std::uint32_t id = 0; id < info.max_entries; ++id) {
    if (bpf_map_lookup_elem(old_limits_.get(), &id, old_value.data()) != 0) continue;
    enforcer_limit value{};
    std::memcpy(&value, old_value.data(), std::min<std::size_t>(sizeof value, old_value.size()));
    if (value.rate_bytes_per_sec[0] == 0 && value.rate_bytes_per_sec[1] == 0) continue;
    for (int d = 0; d < ENFORCER_DIRECTIONS; ++d) {
      value.fallback_rate_bytes_per_sec[d] = value.rate_bytes_per_sec[d];
      value.fallback_tolerance_ns[d] = value.police_tolerance_ns[d];
    }
    if (bpf_map_update_elem(fd, &id, &value, BPF_ANY) == 0) ++migrated;
  }
  log_warning("the adopted limits map had {}-byte values; this build's are {}: {} limit(s) copied",
              info.value_size, sizeof(enforcer_limit), migrated);
  old_limits_.reset();
}

void BpfDatapath::unpin_all() {
  for (const auto& path : pinned_) unlink(path.c_str());
  pinned_.clear();
  rmdir(cgroup_link_dir().c_str());  // only when empty: every link was detached
  rmdir(options_.pin_dir.c_str());   // only when empty
}

}  // namespace enforcer
