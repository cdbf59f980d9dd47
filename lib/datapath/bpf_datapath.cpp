#include "datapath/bpf_datapath.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string_view>

#include "account.skel.h"
#include "base/log.hpp"
#include "base/text.hpp"
#include "datapath/qdisc.hpp"
#include "enforcer_abi.h"

namespace enforcer {

namespace {

namespace fs = std::filesystem;

// Set while probing for things that may legitimately be absent (libbpf warns about those).
thread_local bool g_quiet_libbpf = false;

struct QuietLibbpf {
  QuietLibbpf() { g_quiet_libbpf = true; }
  ~QuietLibbpf() { g_quiet_libbpf = false; }
};

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  if (g_quiet_libbpf) return 0;
  char buf[2048];
  const int n = std::vsnprintf(buf, sizeof buf, format, args);
  const std::string_view text(buf, n > 0 ? std::min<std::size_t>(n, sizeof buf - 1) : 0);
  // One message may hold many lines (the verifier's log): each is a line of the log.
  log_lines(level == LIBBPF_WARN ? LogLevel::kWarning : LogLevel::kDebug, text);
  return 0;
}

// The id of the program pinned at `path`, or 0.
std::uint32_t pinned_prog_id(const std::string& path) {
  const int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return 0;
  bpf_prog_info info{};
  std::uint32_t len = sizeof info;
  std::uint32_t id = 0;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) id = info.id;
  close(fd);
  return id;
}

bpf_tc_hook tc_hook(int ifindex, bpf_tc_attach_point point) {
  bpf_tc_hook hook{};
  hook.sz = sizeof hook;
  hook.ifindex = ifindex;
  hook.attach_point = point;
  return hook;
}

bpf_tc_opts tc_opts(int prog_fd = 0) {
  bpf_tc_opts opts{};
  opts.sz = sizeof opts;
  opts.handle = kTcHandle;
  opts.priority = kTcPriority;
  opts.prog_fd = prog_fd;
  return opts;
}

// The id of the program at enforcer's handle/priority on one hook, or 0 when there is none.
std::uint32_t attached_prog_id(int ifindex, bpf_tc_attach_point point) {
  QuietLibbpf quiet;  // "no such qdisc/filter" is the common answer
  bpf_tc_hook hook = tc_hook(ifindex, point);
  bpf_tc_opts opts = tc_opts();
  if (bpf_tc_query(&hook, &opts) != 0) return 0;
  return opts.prog_id;
}

bool is_bpffs(const std::string& path) {
  struct statfs st {};
  return statfs(path.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

// Pins need a BPF filesystem. Hosts without systemd's usual mount (and test namespaces) may lack
// one at /sys/fs/bpf; mount it there, as systemd and Cilium do.
Expected<void> ensure_bpffs(const std::string& pin_dir) {
  const std::string standard = "/sys/fs/bpf";
  if (pin_dir.rfind(standard + "/", 0) == 0 && !is_bpffs(standard)) {
    if (mount("bpf", standard.c_str(), "bpf", 0, "mode=0700") != 0) {
      return Error{fmt::format("{} is not a BPF filesystem and mounting one there failed: {}",
                               standard, errno_text(errno))};
    }
    log_info("mounted a BPF filesystem at {}", standard);
  }
  return {};
}

const char* kPins[] = {"counters",  "limits",        "charged",    "shapers",
                       "addr_v4",   "addr_v6",       "cgroup_ids", "pod_cgroups",
                       "tc_egress", "tc_egress_edt", "tc_ingress"};

// Maps a previous instance of an older build may not have pinned: adopting the others goes on,
// and these start empty (the daemon fills them at its first pod scan).
bool added_later(std::string_view map_name) {
  return map_name == "pod_cgroups";
}

}  // namespace

Expected<std::vector<int>> interface_indexes(const std::vector<std::string>& names) {
  std::vector<int> out;
  for (const auto& name : names) {
    const unsigned idx = if_nametoindex(name.c_str());
    if (idx == 0) {
      return Error{
          fmt::format("uplink interface \"{}\" does not exist ({})", name, errno_text(errno))};
    }
    out.push_back(static_cast<int>(idx));
  }
  return out;
}

void route_libbpf_log() {
  static const bool done = [] {
    libbpf_set_print(libbpf_print);
    return true;
  }();
  (void)done;
}

namespace {

// The name the kernel gives the program with this id ("" when it is gone).
std::string prog_name(std::uint32_t id) {
  const int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) return {};
  bpf_prog_info info{};
  std::uint32_t len = sizeof info;
  std::string name;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) name = info.name;
  close(fd);
  return name;
}

}  // namespace

UninstallReport uninstall_datapath(const std::string& pin_dir,
                                   const std::vector<std::string>& interfaces) {
  route_libbpf_log();
  UninstallReport report;
  // enforcer's filters: the programs pinned in pin_dir, or (pins already gone) programs of
  // enforcer's names at enforcer's handle and priority.
  std::vector<std::uint32_t> ours;
  for (const char* prog : {"tc_egress", "tc_egress_edt", "tc_ingress"}) {
    if (std::uint32_t id = pinned_prog_id(pin_dir + "/" + prog)) ours.push_back(id);
  }
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
      const bool mine = std::find(ours.begin(), ours.end(), id) != ours.end() ||
                        name == "tc_egress" || name == "tc_egress_edt" || name == "tc_ingress";
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
  if (fs::is_directory(pin_dir, ec)) {
    if (rmdir(pin_dir.c_str()) == 0) {
      report.removed.push_back(fmt::format("removed the directory {}", pin_dir));
    } else {
      report.kept.push_back(
          fmt::format("{} is not empty ({}): left in place", pin_dir, errno_text(errno)));
    }
  }
  return report;
}

BpfDatapath::BpfDatapath(BpfDatapathOptions options) : options_(std::move(options)) {}

BpfDatapath::~BpfDatapath() {
  while (!cgroups_.empty()) detach_cgroup_at(cgroups_.size() - 1);
  detach_all();
  unpin_all();
  if (skel_) account__destroy(skel_);
}

Expected<std::unique_ptr<BpfDatapath>> BpfDatapath::create(const BpfDatapathOptions& options) {
  route_libbpf_log();
  auto found = interface_indexes(options.interfaces);
  if (!found) return found.error();
  const std::vector<int>& ifindexes = *found;

  // Leftovers of an earlier instance that did not stop cleanly. The caller holds the daemon's
  // lock, so nothing else of ours is running: its filters are recognised by running the very
  // programs pinned in our directory. Anything else at our handle belongs to someone else.
  std::vector<std::uint32_t> stale;
  for (const char* prog : {"tc_egress", "tc_egress_edt", "tc_ingress"}) {
    if (std::uint32_t id = pinned_prog_id(options.pin_dir + "/" + prog)) stale.push_back(id);
  }
  std::vector<Leftover> leftovers;
  for (std::size_t i = 0; i < ifindexes.size(); ++i) {
    for (auto point : {BPF_TC_EGRESS, BPF_TC_INGRESS}) {
      const std::uint32_t id = attached_prog_id(ifindexes[i], point);
      if (id == 0) continue;
      if (std::find(stale.begin(), stale.end(), id) != stale.end()) {
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

  std::unique_ptr<BpfDatapath> dp(new BpfDatapath(options));
  if (auto r = dp->load_and_pin(leftovers); !r) return r.error();
  for (const auto& name : options.interfaces) {
    if (auto r = dp->attach(name); !r) return r.error();
  }
  return dp;
}

std::vector<int> BpfDatapath::adoptable_maps(std::string& why_not) const {
  std::vector<int> fds;
  auto give_up = [&](std::string why) {
    for (int fd : fds) close(fd);
    fds.clear();
    why_not = std::move(why);
    return fds;
  };
  for (auto [name, map] : map_pins()) {
    const std::string path = options_.pin_dir + "/" + name;
    const int fd = bpf_obj_get(path.c_str());
    if (fd < 0 && errno == ENOENT && added_later(name)) {
      fds.push_back(-1);
      continue;
    }
    if (fd < 0) {
      return give_up(errno == ENOENT ? fmt::format("{} is missing", path)
                                     : fmt::format("cannot open {}: {}", path, errno_text(errno)));
    }
    fds.push_back(fd);
    bpf_map_info info{};
    std::uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
      return give_up(fmt::format("cannot read what {} is: {}", path, errno_text(errno)));
    }
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

std::vector<std::pair<const char*, bpf_map*>> BpfDatapath::map_pins() const {
  return {{"counters", skel_->maps.counters},     {"limits", skel_->maps.limits},
          {"charged", skel_->maps.charged},       {"shapers", skel_->maps.shapers},
          {"addr_v4", skel_->maps.addr_v4},       {"addr_v6", skel_->maps.addr_v6},
          {"cgroup_ids", skel_->maps.cgroup_ids}, {"pod_cgroups", skel_->maps.pod_cgroups}};
}

Expected<void> BpfDatapath::load_and_pin(const std::vector<Leftover>& leftovers) {
  ncpus_ = libbpf_num_possible_cpus();
  if (ncpus_ <= 0) return Error{fmt::format("cannot count CPUs: {}", errno_text(ncpus_))};

  skel_ = account__open();
  if (!skel_) return Error{fmt::format("cannot open the BPF object: {}", errno_text(errno))};
  const std::uint32_t ids = options_.max_experiments + 1;  // id 0 is unattributed
  const std::uint32_t prefixes = std::max<std::uint32_t>(1024, options_.max_experiments * 8);
  bpf_map__set_max_entries(skel_->maps.counters, ids);
  bpf_map__set_max_entries(skel_->maps.limits, ids);
  bpf_map__set_max_entries(skel_->maps.charged, ids);
  bpf_map__set_max_entries(skel_->maps.shapers, ids);
  bpf_map__set_max_entries(skel_->maps.addr_v4, prefixes);
  bpf_map__set_max_entries(skel_->maps.addr_v6, prefixes);
  // One cgroup per host-network experiment, twice over: a restarted container's new cgroup is
  // attached before its old one is detached.
  bpf_map__set_max_entries(skel_->maps.cgroup_ids, options_.max_experiments * 2);
  bpf_map__set_max_entries(skel_->maps.pod_cgroups, options_.max_experiments * 2);

  // A previous instance that was killed (or crashed) left its datapath running: programs attached,
  // maps pinned. Adopting its maps makes the new programs share its counters, limits, shaper
  // state and address maps, so enforcement never stops and counters go on; its filters are then
  // swapped for ours in place (attach). Maps that do not fit this build are rebuilt instead.
  std::string why_not;
  std::vector<int> adopt = adoptable_maps(why_not);
  if (!adopt.empty()) {
    const auto pins = map_pins();
    for (std::size_t i = 0; i < pins.size(); ++i) {
      if (adopt[i] < 0) {
        created_on_adoption_.push_back(pins[i].first);
        continue;
      }
      const int err = bpf_map__reuse_fd(pins[i].second, adopt[i]);
      close(adopt[i]);
      if (err) {
        return Error{fmt::format("cannot reuse the pinned map {}/{}: {}", options_.pin_dir,
                                 pins[i].first, errno_text(err))};
      }
    }
    adopted_ = true;
    log_warning(
        "adopting the datapath a previous enforcerd left in {} ({} filter(s) still attached): "
        "counters, limits and rate state go on",
        options_.pin_dir, leftovers.size());
  } else {
    std::error_code ec;
    if (!leftovers.empty() || fs::exists(options_.pin_dir + "/counters", ec)) {
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
      if (fs::exists(path, ec)) {
        log_warning("removing {} left by a previous enforcerd (its counters restart at 0)", path);
        unlink(path.c_str());
      }
    }
  }

  if (int err = account__load(skel_); err) {
    return Error{
        fmt::format("cannot load the BPF programs: {} (the kernel's verifier log is "
                    "above)",
                    errno_text(err))};
  }

  if (auto r = ensure_bpffs(options_.pin_dir); !r) return r;
  std::error_code ec;
  fs::create_directories(options_.pin_dir, ec);
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
      return Error{
          fmt::format("cannot pin {}/{}: {}", options_.pin_dir, name, errno_text(err_or_zero))};
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
  for (auto program : {Program::kEgressPolice, Program::kEgressEdt, Program::kIngress,
                       Program::kCgroupEgress, Program::kCgroupIngress}) {
    bpf_prog_info info{};
    std::uint32_t len = sizeof info;
    if (int err = bpf_obj_get_info_by_fd(program_fd(program), &info, &len); err) {
      return Error{fmt::format("cannot read the loaded programs' ids: {}", errno_text(err))};
    }
    prog_ids_[static_cast<int>(program)] = info.id;
  }
  if (adopted_) {
    // The cgroup links died with the previous process; the daemon attaches the cgroups again
    // when it finds them. The unattributed counters go on like the experiments'.
    const int fd = bpf_map__fd(skel_->maps.cgroup_ids);
    std::uint64_t key = 0;
    while (bpf_map_get_next_key(fd, nullptr, &key) == 0) {
      if (bpf_map_delete_elem(fd, &key) != 0) break;
    }
    return {};
  }
  return zero_counters(ENFORCER_UNATTRIBUTED_ID);
}

bool BpfDatapath::wants_edt(const EgressQdisc& qdisc) const {
  // Timestamps only pace where fq reads them; under "edt" an uplink that lost its fq is policed
  // until fq returns (refresh() says so) rather than left unenforced.
  switch (options_.enforcement) {
    case Enforcement::kAuto:
    case Enforcement::kEdt:
      return qdisc.paces();
    case Enforcement::kPolice:
      return false;
  }
  return false;
}

std::uint32_t BpfDatapath::prog_id(Program program) const {
  return prog_ids_[static_cast<int>(program)];
}

Expected<void> BpfDatapath::refresh() {
  std::string errors;
  for (auto& a : attachments_) {
    if (auto r = refresh_one(a); !r) {
      errors += (errors.empty() ? "" : "; ") + r.error().message;
    }
  }
  if (!errors.empty()) return Error{errors};
  return {};
}

Expected<void> BpfDatapath::refresh_one(Attachment& a) {
  const auto ifindex = static_cast<int>(if_nametoindex(a.interface.c_str()));
  if (ifindex == 0) {
    if (!a.missing) {
      log_error("uplink {} is gone: its traffic is neither counted nor limited until it returns",
                a.interface);
      a.missing = true;
    }
    a.egress_attached = a.ingress_attached = false;
    a.created_clsact = false;
    return {};
  }
  if (ifindex != a.ifindex || a.missing) {
    log_warning("uplink {} is back (ifindex {}): attaching again", a.interface, ifindex);
    a.ifindex = ifindex;
    a.missing = false;
    a.foreign_warned = false;
    a.egress_attached = a.ingress_attached = false;
    a.created_clsact = false;
  }

  auto qdisc = egress_qdisc(a.ifindex);
  if (!qdisc) return Error{fmt::format("interface {}: {}", a.interface, qdisc.error().message)};
  const bool edt = wants_edt(*qdisc);
  const bool was_edt = a.egress_edt;
  const std::uint32_t want_egress = prog_id(edt ? Program::kEgressEdt : Program::kEgressPolice);
  const std::uint32_t ours[] = {prog_id(Program::kEgressPolice), prog_id(Program::kEgressEdt),
                                prog_id(Program::kIngress)};
  std::string errors;
  for (auto [point, want, flag] :
       {std::tuple{BPF_TC_EGRESS, want_egress, &a.egress_attached},
        std::tuple{BPF_TC_INGRESS, prog_id(Program::kIngress), &a.ingress_attached}}) {
    const char* where = point == BPF_TC_EGRESS ? "egress" : "ingress";
    const std::uint32_t have = attached_prog_id(a.ifindex, point);
    if (have == want) continue;
    if (have != 0 && std::find(std::begin(ours), std::end(ours), have) == std::end(ours)) {
      if (!a.foreign_warned) {
        log_error(
            "interface {}: a foreign tc {} filter (program id {}) took enforcer's handle "
            "{:#x}; not replacing it",
            a.interface, where, have, kTcHandle);
        a.foreign_warned = true;
      }
      *flag = false;
      continue;
    }
    if (have == 0) {
      // Our filter, or the whole clsact qdisc, was removed (or the uplink is new).
      bpf_tc_hook hook =
          tc_hook(a.ifindex, static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
      const int err = bpf_tc_hook_create(&hook);
      if (err == 0) a.created_clsact = true;
    }
    bpf_tc_hook h = tc_hook(a.ifindex, point);
    const Program program = point == BPF_TC_INGRESS ? Program::kIngress
                            : edt                   ? Program::kEgressEdt
                                                    : Program::kEgressPolice;
    bpf_tc_opts opts = tc_opts(program_fd(program));
    opts.flags = BPF_TC_F_REPLACE;  // an atomic swap when a filter is there
    if (int err = bpf_tc_attach(&h, &opts); err) {
      *flag = false;
      errors += fmt::format("{}interface {}: cannot attach the tc {} program: {}",
                            errors.empty() ? "" : "; ", a.interface, where, errno_text(err));
      continue;
    }
    *flag = true;
    if (have == 0) {
      log_warning("interface {}: enforcer's tc {} filter was missing; attached again", a.interface,
                  where);
    } else {
      log_info("interface {}: root qdisc is now {}: egress {}", a.interface, qdisc->describe(),
               edt ? "paced (EDT)" : "policed");
    }
    if (point == BPF_TC_EGRESS) a.egress_edt = edt;
  }
  if (options_.enforcement == Enforcement::kEdt && was_edt && !a.egress_edt) {
    log_error(
        "interface {}: enforcement = \"edt\" but the root qdisc is now {}; policing until "
        "fq returns",
        a.interface, qdisc->describe());
  }
  if (!errors.empty()) return Error{errors};
  return {};
}

Expected<void> BpfDatapath::attach(const std::string& interface) {
  Attachment a;
  a.interface = interface;
  a.ifindex = static_cast<int>(if_nametoindex(interface.c_str()));
  if (a.ifindex == 0) {
    return Error{fmt::format("uplink interface \"{}\" does not exist", interface)};
  }
  bpf_tc_hook hook =
      tc_hook(a.ifindex, static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) {
    return Error{fmt::format("interface {}: cannot add the clsact qdisc: {}{}", interface,
                             errno_text(err),
                             err == -ENOENT ? " (is the sch_ingress module loaded?)" : "")};
  }
  a.created_clsact = err == 0;

  auto qdisc = egress_qdisc(a.ifindex);
  if (!qdisc) return Error{fmt::format("interface {}: {}", interface, qdisc.error().message)};
  if (options_.enforcement == Enforcement::kEdt && !qdisc->paces()) {
    if (a.created_clsact) {
      bpf_tc_hook h =
          tc_hook(a.ifindex, static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
      bpf_tc_hook_destroy(&h);
    }
    return Error{
        fmt::format("interface {}: enforcement = \"edt\" needs fq as the root qdisc or on "
                    "every queue under mq, found \"{}\" (use \"auto\" or \"police\", or "
                    "add fq)",
                    interface, qdisc->describe())};
  }
  a.egress_edt = wants_edt(*qdisc);
  attachments_.push_back(a);
  Attachment& at = attachments_.back();

  for (auto [point, prog, flag] :
       {std::tuple{BPF_TC_EGRESS,
                   at.egress_edt ? skel_->progs.tc_egress_edt : skel_->progs.tc_egress,
                   &at.egress_attached},
        std::tuple{BPF_TC_INGRESS, skel_->progs.tc_ingress, &at.ingress_attached}}) {
    bpf_tc_hook h = tc_hook(at.ifindex, point);
    bpf_tc_opts opts = tc_opts(bpf_program__fd(prog));
    // Adopting: the previous instance's filter (create() checked it is ours) is swapped in one
    // step, so no packet passes without a program.
    if (adopted_) opts.flags = BPF_TC_F_REPLACE;
    err = bpf_tc_attach(&h, &opts);
    if (err) {
      return Error{
          fmt::format("interface {}: cannot attach the tc {} program: {}{}", interface,
                      point == BPF_TC_EGRESS ? "egress" : "ingress", errno_text(err),
                      err == -EEXIST ? " (a filter already holds enforcer's handle)" : "")};
    }
    *flag = true;
  }
  log_info(
      "attached to {} (tc clsact, handle {:#x}, priority {}; root qdisc {}: egress {}, "
      "ingress policed)",
      interface, kTcHandle, kTcPriority, qdisc->describe(),
      at.egress_edt ? "paced (EDT)" : "policed");
  return {};
}

void BpfDatapath::detach_all() {
  for (auto it = attachments_.rbegin(); it != attachments_.rend(); ++it) {
    Attachment& a = *it;
    // The interface may have gone (or been re-created under another index) meanwhile.
    if (static_cast<int>(if_nametoindex(a.interface.c_str())) != a.ifindex) {
      log_warning("uplink {} is gone; nothing to detach there", a.interface);
      continue;
    }
    for (auto [point, flag] : {std::pair{BPF_TC_EGRESS, &a.egress_attached},
                               std::pair{BPF_TC_INGRESS, &a.ingress_attached}}) {
      if (!*flag) continue;
      bpf_tc_hook h = tc_hook(a.ifindex, point);
      bpf_tc_opts opts = tc_opts();
      if (int err = bpf_tc_detach(&h, &opts); err) {
        log_warning("interface {}: cannot detach the tc program: {}", a.interface, errno_text(err));
      }
      *flag = false;
    }
    if (a.created_clsact) {
      bpf_tc_hook h =
          tc_hook(a.ifindex, static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
      bpf_tc_hook_destroy(&h);
    }
    log_info("detached accounting from {}", a.interface);
  }
  attachments_.clear();
}

void BpfDatapath::unpin_all() {
  for (const auto& path : pinned_) unlink(path.c_str());
  pinned_.clear();
  rmdir(options_.pin_dir.c_str());  // only when empty
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

bool BpfDatapath::egress_paced(const std::string& interface) const {
  for (const auto& a : attachments_) {
    if (a.interface == interface) return a.egress_edt;
  }
  return false;
}

Expected<void> BpfDatapath::set_limits(const std::vector<LimitUpdate>& updates) {
  if (updates.empty()) return {};
  keys_.resize(updates.size());
  std::vector<enforcer_limit> values(updates.size());
  for (std::size_t i = 0; i < updates.size(); ++i) {
    keys_[i] = updates[i].id;
    const RateLimit& l = updates[i].limit;
    for (Direction d : kDirections) {
      values[i].rate_bytes_per_sec[d] = l.bytes_per_second[d];
      values[i].police_tolerance_ns[d] = l.police_tolerance_ns[d];
      values[i].budget_bytes_total[d] = l.budget_bytes_total[d];
    }
    values[i].edt_horizon_ns = l.edt_horizon_ns;
  }
  const int fd = bpf_map__fd(skel_->maps.limits);
  auto count = static_cast<std::uint32_t>(updates.size());
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  if (bpf_map_update_batch(fd, keys_.data(), values.data(), &count, &opts) == 0) return {};
  // Kernels without batch updates for arrays: one update per experiment.
  for (std::size_t i = 0; i < updates.size(); ++i) {
    if (bpf_map_update_elem(fd, &keys_[i], &values[i], BPF_ANY) != 0) {
      return Error{fmt::format("cannot set the rate limit of experiment id {}: {}", keys_[i],
                               errno_text(errno))};
    }
  }
  return {};
}

Expected<void> BpfDatapath::zero_shaper(std::uint32_t id) {
  const enforcer_shaper zero{};
  const enforcer_limit none{};
  const enforcer_charged nothing{};
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.shapers), &id, &zero, BPF_ANY) != 0 ||
      bpf_map_update_elem(bpf_map__fd(skel_->maps.limits), &id, &none, BPF_ANY) != 0 ||
      bpf_map_update_elem(bpf_map__fd(skel_->maps.charged), &id, &nothing, BPF_ANY) != 0) {
    return Error{
        fmt::format("cannot reset the rate state of experiment id {}: {}", id, errno_text(errno))};
  }
  return {};
}

Expected<void> BpfDatapath::zero_counters(std::uint32_t id) {
  std::vector<enforcer_counters> zero(static_cast<std::size_t>(ncpus_));
  if (bpf_map_update_elem(counters_fd(), &id, zero.data(), BPF_ANY) != 0) {
    return Error{
        fmt::format("cannot reset counters of experiment id {}: {}", id, errno_text(errno))};
  }
  return {};
}

namespace {

template <std::size_t N>
void fill_key(std::uint8_t (&dst)[N], const Prefix& p) {
  std::memcpy(dst, p.bytes.data(), N);
}

}  // namespace

Expected<void> BpfDatapath::add_experiment(std::uint32_t id, const std::vector<Prefix>& addresses) {
  if (id == ENFORCER_UNATTRIBUTED_ID || id > options_.max_experiments) {
    return Error{fmt::format("experiment id {} out of range 1..{}", id, options_.max_experiments)};
  }
  if (auto r = zero_counters(id); !r) return r;
  if (auto r = zero_shaper(id); !r) return r;
  return write_addresses(id, addresses);
}

Expected<void> BpfDatapath::keep_experiment(std::uint32_t id,
                                            const std::vector<Prefix>& addresses) {
  if (id == ENFORCER_UNATTRIBUTED_ID || id > options_.max_experiments) {
    return Error{fmt::format("experiment id {} out of range 1..{}", id, options_.max_experiments)};
  }
  return write_addresses(id, addresses);
}

namespace {
// An LPM key as the bytes the map holds (the sets of written keys compare them).
template <typename Key>
std::array<std::uint8_t, sizeof(Key)> key_bytes(const Key& key) {
  std::array<std::uint8_t, sizeof(Key)> bytes{};
  std::memcpy(bytes.data(), &key, sizeof key);
  return bytes;
}
}  // namespace

Expected<void> BpfDatapath::write_addresses(std::uint32_t id,
                                            const std::vector<Prefix>& addresses) {
  for (const Prefix& p : addresses) {
    int err;
    if (p.v6) {
      enforcer_lpm_v6 key{p.length, {}};
      fill_key(key.addr, p);
      err = bpf_map_update_elem(bpf_map__fd(skel_->maps.addr_v6), &key, &id, BPF_ANY);
      written_v6_.insert(key_bytes(key));
    } else {
      enforcer_lpm_v4 key{p.length, {}};
      fill_key(key.addr, p);
      err = bpf_map_update_elem(bpf_map__fd(skel_->maps.addr_v4), &key, &id, BPF_ANY);
      written_v4_.insert(key_bytes(key));
    }
    if (err) {
      return Error{fmt::format("cannot add address {} of experiment id {}: {}", to_string(p), id,
                               errno_text(errno))};
    }
  }
  return {};
}

std::size_t BpfDatapath::prune_addresses() {
  std::size_t removed = 0;
  auto prune = [&]<std::size_t N>(int fd, const std::set<std::array<std::uint8_t, N>>& keep) {
    // Collect first: deleting while walking an LPM trie's keys would restart the walk.
    std::vector<std::array<std::uint8_t, N>> gone;
    std::array<std::uint8_t, N> key{}, next{};
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
      if (!keep.count(next)) gone.push_back(next);
      key = next;
      prev = key.data();
    }
    for (const auto& k : gone) {
      if (bpf_map_delete_elem(fd, k.data()) == 0) ++removed;
    }
  };
  prune(bpf_map__fd(skel_->maps.addr_v4), written_v4_);
  prune(bpf_map__fd(skel_->maps.addr_v6), written_v6_);
  return removed;
}

Expected<void> BpfDatapath::remove_addresses(const std::vector<Prefix>& addresses) {
  std::string failed;
  for (const Prefix& p : addresses) {
    int err = 0;
    if (p.v6) {
      enforcer_lpm_v6 key{p.length, {}};
      fill_key(key.addr, p);
      if (bpf_map_delete_elem(bpf_map__fd(skel_->maps.addr_v6), &key) != 0) err = errno;
      written_v6_.erase(key_bytes(key));
    } else {
      enforcer_lpm_v4 key{p.length, {}};
      fill_key(key.addr, p);
      if (bpf_map_delete_elem(bpf_map__fd(skel_->maps.addr_v4), &key) != 0) err = errno;
      written_v4_.erase(key_bytes(key));
    }
    if (err != 0 && err != ENOENT) {
      failed += fmt::format("{}{}: {}", failed.empty() ? "" : ", ", to_string(p), errno_text(err));
    }
  }
  if (!failed.empty()) return Error{fmt::format("cannot remove address(es) {}", failed)};
  return {};
}

Expected<void> BpfDatapath::remove_experiment(std::uint32_t id,
                                              const std::vector<Prefix>& addresses) {
  detach_cgroups(id);
  for (auto it = pod_cgroups_.begin(); it != pod_cgroups_.end();) {
    if (it->second != id) {
      ++it;
      continue;
    }
    bpf_map_delete_elem(bpf_map__fd(skel_->maps.pod_cgroups), &it->first);
    it = pod_cgroups_.erase(it);
  }
  auto removed = remove_addresses(addresses);
  if (auto r = zero_shaper(id); !r) return r;
  if (auto r = zero_counters(id); !r) return r;
  return removed;
}

namespace {

// "/a/b/" and "/a//b" are "/a/b".
std::string normal_cgroup_path(const std::string& path) {
  std::string p = fs::path(path).lexically_normal().string();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// True when one of the two cgroup directories contains the other (or they are the same).
bool nested(const std::string& a, const std::string& b) {
  const std::string& shorter = a.size() <= b.size() ? a : b;
  const std::string& longer = a.size() <= b.size() ? b : a;
  return longer.compare(0, shorter.size(), shorter) == 0 &&
         (longer.size() == shorter.size() || longer[shorter.size()] == '/' || shorter == "/");
}

// The id of the cgroup v2 directory open at `fd` (what bpf_skb_cgroup_id() returns for its
// sockets): the kernfs node id, which the kernel hands out as the directory's file handle and,
// on 64-bit hosts, its inode number.
Expected<std::uint64_t> cgroup_id_of(int fd, const std::string& path) {
  alignas(file_handle) unsigned char buf[sizeof(file_handle) + sizeof(std::uint64_t)] = {};
  auto* handle = reinterpret_cast<file_handle*>(buf);
  handle->handle_bytes = sizeof(std::uint64_t);
  int mount_id = 0;
  if (name_to_handle_at(fd, "", handle, &mount_id, AT_EMPTY_PATH) == 0 &&
      handle->handle_bytes == sizeof(std::uint64_t)) {
    std::uint64_t id;
    std::memcpy(&id, buf + sizeof(file_handle), sizeof id);
    return id;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    return Error{fmt::format("cannot read the id of cgroup {}: {}", path, errno_text(errno))};
  }
  return static_cast<std::uint64_t>(st.st_ino);
}

}  // namespace

Expected<void> BpfDatapath::attach_cgroup(std::uint32_t experiment_id,
                                          const std::string& cgroup_path) {
  if (experiment_id == ENFORCER_UNATTRIBUTED_ID || experiment_id > options_.max_experiments) {
    return Error{fmt::format("experiment id {} out of range 1..{}", experiment_id,
                             options_.max_experiments)};
  }
  const std::string path = normal_cgroup_path(cgroup_path);
  const int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return Error{fmt::format("cgroup {} of experiment id {}: {}{}", path, experiment_id,
                             errno_text(err), err == ENOENT ? " (it vanished)" : "")};
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { close(fd); }
  } closer{fd};
  struct statfs sfs {};
  if (fstatfs(fd, &sfs) != 0 || sfs.f_type != CGROUP2_SUPER_MAGIC) {
    return Error{fmt::format(
        "{} is not a cgroup v2 directory (cgroup_skb programs attach to cgroup2 only)", path)};
  }
  auto id = cgroup_id_of(fd, path);
  if (!id) return id.error();

  for (const CgroupAttachment& c : cgroups_) {
    if (c.cgroup_id == *id || c.path == path) {
      if (c.experiment_id == experiment_id) return {};  // attached already
      return Error{fmt::format("cgroup {} is experiment id {}'s already; not attaching it to {}",
                               path, c.experiment_id, experiment_id)};
    }
    if (nested(c.path, path)) {
      return Error{fmt::format(
          "cgroup {} (experiment id {}) and cgroup {} (experiment id {}) are nested: the "
          "packets of the inner one would be counted twice; not attaching",
          path, experiment_id, c.path, c.experiment_id)};
    }
  }

  // The id goes into the map first, so that the programs attribute the very first packet.
  const int map_fd = bpf_map__fd(skel_->maps.cgroup_ids);
  if (bpf_map_update_elem(map_fd, &*id, &experiment_id, BPF_ANY) != 0) {
    return Error{fmt::format("cannot register cgroup {} of experiment id {}: {}", path,
                             experiment_id, errno_text(errno))};
  }
  CgroupAttachment c;
  c.experiment_id = experiment_id;
  c.path = path;
  c.cgroup_id = *id;
  for (auto [prog, link, where] :
       {std::tuple{skel_->progs.cgroup_egress, &c.egress, "egress"},
        std::tuple{skel_->progs.cgroup_ingress, &c.ingress, "ingress"}}) {
    *link = bpf_program__attach_cgroup(prog, fd);
    if (!*link) {
      const int err = errno;
      if (c.egress) bpf_link__destroy(c.egress);
      bpf_map_delete_elem(map_fd, &*id);
      return Error{fmt::format(
          "cannot attach the cgroup_skb {} program to cgroup {} (experiment id {}): {}{}", where,
          path, experiment_id, errno_text(err),
          err == EPERM    ? " (a program attached there without BPF_F_ALLOW_MULTI excludes others)"
          : err == ENOENT ? " (it vanished)"
                          : "")};
    }
  }
  cgroups_.push_back(c);
  log_info("attached accounting to cgroup {} (id {}) for experiment id {}", path, *id,
           experiment_id);
  return {};
}

void BpfDatapath::detach_cgroup_at(std::size_t index) {
  CgroupAttachment& c = cgroups_[index];
  // Links first, then the map entry: no packet runs the programs with the entry gone. A link of a
  // removed cgroup is defunct already; destroying it only releases it.
  if (c.egress) bpf_link__destroy(c.egress);
  if (c.ingress) bpf_link__destroy(c.ingress);
  bpf_map_delete_elem(bpf_map__fd(skel_->maps.cgroup_ids), &c.cgroup_id);
  log_info("detached accounting from cgroup {} (experiment id {})", c.path, c.experiment_id);
  cgroups_.erase(cgroups_.begin() + static_cast<std::ptrdiff_t>(index));
}

Expected<void> BpfDatapath::detach_cgroup(std::uint32_t experiment_id,
                                          const std::string& cgroup_path) {
  const std::string path = normal_cgroup_path(cgroup_path);
  for (std::size_t i = 0; i < cgroups_.size(); ++i) {
    if (cgroups_[i].path == path && cgroups_[i].experiment_id == experiment_id) {
      detach_cgroup_at(i);
      return {};
    }
  }
  return Error{fmt::format("cgroup {} is not attached for experiment id {}", path, experiment_id)};
}

void BpfDatapath::detach_cgroups(std::uint32_t experiment_id) {
  for (std::size_t i = cgroups_.size(); i-- > 0;) {
    if (cgroups_[i].experiment_id == experiment_id) detach_cgroup_at(i);
  }
}

Expected<void> BpfDatapath::lookup_array(int fd, std::uint32_t want, void* out,
                                         std::size_t value_size, const char* what) {
  keys_.resize(want);
  std::uint32_t count = want;
  std::uint32_t next = 0;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  const int err = bpf_map_lookup_batch(fd, nullptr, &next, keys_.data(), out, &count, &opts);
  // An array's batch starts at key 0 and runs in key order: a full one is ids 0..want-1.
  if ((err == 0 || errno == ENOENT) && count == want) return {};
  // Kernels without batch support for arrays: one lookup per id.
  for (std::uint32_t id = 0; id < want; ++id) {
    if (bpf_map_lookup_elem(fd, &id, static_cast<std::uint8_t*>(out) + id * value_size) != 0) {
      return Error{fmt::format("cannot read the {} of id {}: {}", what, id, errno_text(errno))};
    }
  }
  return {};
}

Expected<void> BpfDatapath::read_counters(std::uint32_t max_id, std::vector<CounterSample>& out) {
  if (max_id > options_.max_experiments) {
    return Error{fmt::format("experiment id {} out of range", max_id)};
  }
  const std::uint32_t want = max_id + 1;
  out.assign(want, CounterSample{});
  // The charged bytes first (CounterSample::charged says why).
  charged_.resize(want);
  if (auto r = lookup_array(bpf_map__fd(skel_->maps.charged), want, charged_.data(),
                            sizeof(enforcer_charged), "budget counters");
      !r) {
    return r;
  }
  for (std::uint32_t id = 0; id < want; ++id) {
    for (Direction d : kDirections) out[id].charged[d] = charged_[id].bytes[d];
  }
  const std::size_t per_id = static_cast<std::size_t>(ncpus_) * sizeof(enforcer_counters);
  values_.resize(want * per_id);
  if (auto r = lookup_array(counters_fd(), want, values_.data(), per_id, "counters"); !r) return r;
  const auto* values = reinterpret_cast<const enforcer_counters*>(values_.data());
  for (std::uint32_t id = 0; id < want; ++id) {
    CounterSample& s = out[id];
    for (int cpu = 0; cpu < ncpus_; ++cpu) {
      const enforcer_counters& c = values[static_cast<std::size_t>(id) * ncpus_ + cpu];
      for (Direction d : kDirections) {
        s.bytes[d] += c.bytes[d];
        s.packets[d] += c.packets[d];
        s.dropped_bytes[d] += c.dropped_bytes[d];
        s.dropped_packets[d] += c.dropped_packets[d];
      }
    }
  }
  return {};
}

Expected<void> BpfDatapath::set_pod_cgroups(const std::map<std::uint64_t, std::uint32_t>& wanted) {
  const int fd = bpf_map__fd(skel_->maps.pod_cgroups);
  // What the map holds beyond `wanted`: read all keys first (deleting while walking with
  // get_next_key can restart the walk).
  std::vector<std::uint64_t> stale;
  std::uint64_t key = 0;
  std::uint64_t* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &key) == 0) {
    if (!wanted.contains(key)) stale.push_back(key);
    prev = &key;
  }
  for (std::uint64_t k : stale) bpf_map_delete_elem(fd, &k);
  std::optional<Error> first;
  std::map<std::uint64_t, std::uint32_t> written;
  for (const auto& [cgroup_id, id] : wanted) {
    if (bpf_map_update_elem(fd, &cgroup_id, &id, BPF_ANY) != 0) {
      if (!first) {
        first = Error{fmt::format("cannot register pod cgroup {} of experiment id {}: {}",
                                  cgroup_id, id, errno_text(errno))};
      }
      continue;
    }
    written.emplace(cgroup_id, id);
  }
  pod_cgroups_ = std::move(written);
  if (first) return *first;
  return {};
}

}  // namespace enforcer
