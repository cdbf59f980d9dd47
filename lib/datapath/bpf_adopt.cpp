// What a previous enforcerd that did not stop cleanly left: its tc filters (told apart from a
// foreign filter at enforcer's handle) and its pinned maps, adopted when they fit this build.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <string_view>

#include "account.skel.h"
#include "base/fd.hpp"
#include "base/log.hpp"
#include "base/text.hpp"
#include "datapath/bpf_datapath.hpp"
#include "datapath/bpf_internal.hpp"

namespace enforcer {

namespace {

// The id of the program pinned at `path`, or 0.
std::uint32_t pinned_prog_id(const std::string& path) {
  const Fd fd(bpf_obj_get(path.c_str()));
  if (!fd) return 0;
  bpf_prog_info info{};
  std::uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return 0;
  return info.id;
}

// Maps a previous instance of an older build may not have pinned: adopting the others goes on,
// and these start empty (the daemon fills them at its first pod scan).
bool added_later(std::string_view map_name) {
  return map_name == "pod_cgroups" || map_name == "addr_exact" || map_name == "addr_ctl";
}

// Maps whose values grew at their end in a later build: a previous instance's smaller one is
// replaced by a new map holding its entries (migrate_limits), the rest is adopted.
bool grows(std::string_view map_name) {
  return map_name == "limits";
}

}  // namespace

std::vector<std::uint32_t> pinned_tc_prog_ids(const std::string& pin_dir) {
  std::vector<std::uint32_t> ids;
  for (const char* prog : kTcPrograms) {
    if (std::uint32_t id = pinned_prog_id(pin_dir + "/" + prog)) ids.push_back(id);
  }
  return ids;
}

Expected<std::vector<BpfDatapath::Leftover>> BpfDatapath::find_leftovers(
    const BpfDatapathOptions& options, const std::vector<int>& ifindexes) {
  // Leftovers of an earlier instance that did not stop cleanly. The caller holds the daemon's
  // lock, so nothing else of ours is running: its filters are recognised by running the very
  // programs pinned in our directory. Anything else at our handle belongs to someone else.
  const std::vector<std::uint32_t> stale = pinned_tc_prog_ids(options.pin_dir);
  auto is_stale = [&](std::uint32_t id) {
    return std::find(stale.begin(), stale.end(), id) != stale.end();
  };
  std::vector<Leftover> leftovers;
  for (std::size_t i = 0; i < ifindexes.size(); ++i) {
    for (auto point : {BPF_TC_EGRESS, BPF_TC_INGRESS}) {
      const std::uint32_t id = attached_prog_id(ifindexes[i], point);
      if (id == 0) continue;
      if (is_stale(id)) {
        leftovers.push_back(Leftover{options.interfaces[i], ifindexes[i], point});
        continue;
      }
      return Error{fmt::format(
          "interface {}: a tc {} filter (program id {}) already holds enforcer's handle {:#x} "
          "priority {}; is another enforcerd running with a different bpf_pin_dir?",
          options.interfaces[i], point == BPF_TC_EGRESS ? "egress" : "ingress", id, kTcHandle,
          kTcPriority)};
    }
  }
  if (!options.leftovers_anywhere || stale.empty()) return leftovers;
  // Elsewhere only our own filters matter: what others run on interfaces that are no uplink is
  // none of enforcer's business.
  for (const std::string& name : all_interfaces()) {
    if (std::find(options.interfaces.begin(), options.interfaces.end(), name) !=
        options.interfaces.end()) {
      continue;
    }
    const int ifindex = static_cast<int>(if_nametoindex(name.c_str()));
    if (ifindex == 0) continue;  // gone since the listing
    for (auto point : {BPF_TC_EGRESS, BPF_TC_INGRESS}) {
      if (is_stale(attached_prog_id(ifindex, point))) {
        leftovers.push_back(Leftover{name, ifindex, point, false});
      }
    }
  }
  return leftovers;
}

std::vector<Fd> BpfDatapath::adoptable_maps(std::string& why_not) {
  std::vector<Fd> fds;
  // The maps opened so far close with `fds`.
  auto give_up = [&](std::string why) {
    why_not = std::move(why);
    old_limits_.reset();
    return std::vector<Fd>{};
  };
  for (auto [name, map] : map_pins()) {
    const std::string path = options_.pin_dir + "/" + name;
    Fd fd(bpf_obj_get(path.c_str()));
    if (!fd && errno == ENOENT && added_later(name)) {
      fds.emplace_back();
      continue;
    }
    if (!fd) {
      return give_up(errno == ENOENT ? fmt::format("{} is missing", path)
                                     : fmt::format("cannot open {}: {}", path, errno_text(errno)));
    }
    bpf_map_info info{};
    std::uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) {
      return give_up(fmt::format("cannot read what {} is: {}", path, errno_text(errno)));
    }
    if (grows(name) && info.type == static_cast<std::uint32_t>(bpf_map__type(map)) &&
        info.key_size == bpf_map__key_size(map) && info.value_size < bpf_map__value_size(map) &&
        info.max_entries == bpf_map__max_entries(map)) {
      old_limits_ = std::move(fd);  // copied into a new map after load (migrate_limits)
      fds.emplace_back();
      continue;
    }
    fds.push_back(std::move(fd));
    // What the kernel would refuse to share with the new programs (libbpf checks the same at
    // load; checking first lets a mismatch fall back to a rebuild instead of failing the start).
    if (info.type != static_cast<std::uint32_t>(bpf_map__type(map)) ||
        info.key_size != bpf_map__key_size(map) || info.value_size != bpf_map__value_size(map) ||
        info.max_entries != bpf_map__max_entries(map) ||
        info.map_flags != bpf_map__map_flags(map)) {
      return give_up(fmt::format(
          "{} has type {}, {}-byte keys, {}-byte values, {} entries, flags {:#x}; this build "
          "needs type {}, {}, {}, {}, {:#x} (max_experiments or the BPF object changed)",
          path, info.type, info.key_size, info.value_size, info.max_entries, info.map_flags,
          static_cast<std::uint32_t>(bpf_map__type(map)), bpf_map__key_size(map),
          bpf_map__value_size(map), bpf_map__max_entries(map), bpf_map__map_flags(map)));
    }
  }
  return fds;
}

Expected<void> BpfDatapath::adopt_or_remove(const std::vector<Leftover>& leftovers) {
  // A previous instance that was killed (or crashed) left its datapath running: programs attached,
  // maps pinned. Adopting its maps makes the new programs share its counters, limits, shaper
  // state and address maps, so enforcement never stops and counters go on; its filters are then
  // swapped for ours in place (attach). Maps that do not fit this build are rebuilt instead.
  std::string why_not;
  std::vector<Fd> adopt = adoptable_maps(why_not);
  if (!adopt.empty()) {
    const auto pins = map_pins();
    for (std::size_t i = 0; i < pins.size(); ++i) {
      if (!adopt[i]) {
        created_on_adoption_.push_back(pins[i].first);
        continue;
      }
      // libbpf keeps a duplicate of the fd; ours closes with `adopt`.
      const int err = bpf_map__reuse_fd(pins[i].second, adopt[i].get());
      if (err) {
        return errno_error(err, "cannot reuse the pinned map {}/{}", options_.pin_dir,
                           pins[i].first);
      }
    }
    adopted_ = true;
    log_warning(
        "adopting the datapath a previous enforcerd left in {} ({} filter(s) still attached): "
        "counters, limits and rate state go on",
        options_.pin_dir, leftovers.size());
    return {};
  }
  std::error_code ec;
  if (!leftovers.empty() || std::filesystem::exists(options_.pin_dir + "/counters", ec)) {
    log_warning("not adopting what a previous enforcerd left in {}: {}; rebuilding it",
                options_.pin_dir, why_not);
  }
  for (const Leftover& l : leftovers) {
    bpf_tc_hook hook = tc_hook(l.ifindex, static_cast<bpf_tc_attach_point>(l.point));
    bpf_tc_opts opts = tc_opts();
    bpf_tc_detach(&hook, &opts);
    log_warning("removed the {} program a previous enforcerd left on {}",
                l.point == BPF_TC_EGRESS ? "egress" : "ingress", l.interface);
  }
  for (const char* pin : kPins) {
    const std::string path = options_.pin_dir + "/" + pin;
    if (std::filesystem::exists(path, ec)) {
      log_warning("removing {} left by a previous enforcerd (its counters restart at 0)", path);
      unlink(path.c_str());
    }
  }
  // Its cgroup links: unpinned, they detach; the daemon attaches the cgroups again as it finds
  // them.
  for (const auto& entry : std::filesystem::directory_iterator(cgroup_link_dir(), ec)) {
    unlink(entry.path().c_str());
  }
  rmdir(cgroup_link_dir().c_str());
  return {};
}

}  // namespace enforcer
