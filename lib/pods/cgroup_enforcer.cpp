#include "pods/cgroup_enforcer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>

#include "base/log.hpp"

namespace enforcer {

namespace {

// How often an unchanged drift report is logged again.
constexpr std::chrono::minutes kDriftReportRepeat{10};

std::string describe(const std::vector<CgroupFileValue>& values) {
  std::string out;
  for (const auto& v : values) {
    out += fmt::format("{}{} \"{}\"", out.empty() ? "" : ", ", v.file, v.value);
  }
  return out;
}

}  // namespace

std::string find_cgroup2_mount(std::string_view mountinfo_text) {
  for (const MountInfo& m : parse_mountinfo(mountinfo_text)) {
    if (m.fs_type == "cgroup2") return m.mount_point;
  }
  return {};
}

CgroupEnforcer::CgroupEnforcer(const Config& config, std::string cgroup_root,
                               ExperimentTable& table, CgroupTotals& totals, CgroupHooks hooks)
    : cgroup_root_(std::move(cgroup_root)),
      devices_(config.devices),
      table_(table),
      totals_(totals),
      hooks_(std::move(hooks)),
      scanner_([&] {
        ScanOptions o;
        o.cgroup_root = cgroup_root_;
        return o;
      }()),
      applier_(CgroupApplier::Options{cgroup_root_, true}),
      limits_(applier_, config.daemon.cgroup_manager),
      quota_check_interval_(config.daemon.quota_check_interval),
      next_quota_check_(std::chrono::steady_clock::now() + quota_check_interval_) {
  std::uint32_t position = 0;
  for (const ExperimentConfig& x : config.experiments) {
    ++position;
    experiments_.push_back(track(x, x.id ? x.id : position, config.devices));
  }
}

CgroupEnforcer::Tracked CgroupEnforcer::track(const ExperimentConfig& x, std::uint32_t id,
                                              const std::vector<DeviceConfig>& devices) {
  Tracked t;
  t.id = id;
  t.name = x.name;
  t.spec.name = x.name;
  t.spec.addresses = x.addresses;
  if (!x.cgroup.empty()) t.spec.cgroup_glob = x.cgroup;
  if (auto values = cgroup_values(x.allocation, devices)) {
    t.values = std::move(*values);
  } else {
    log_error("experiment {}: no cgroup limits: {}", x.name, values.error().message);
  }
  t.data_dir = x.data_dir;
  t.project_id = x.project_id;
  t.disk_bytes = x.allocation.disk_bytes;
  t.allocation = x.allocation;
  for (const auto& s : *table_.snapshot()) {
    if (s->id == id) t.resources = s->resources;
  }
  if (!t.resources) t.resources = std::make_shared<ResourceState>();
  return t;
}

std::size_t CgroupEnforcer::set_experiments(const Config& config) {
  std::vector<Tracked> next;
  next.reserve(config.experiments.size());
  std::size_t failed = 0;
  for (const ExperimentConfig& x : config.experiments) {
    auto was = std::find_if(experiments_.begin(), experiments_.end(),
                            [&](const Tracked& t) { return t.name == x.name; });
    if (was != experiments_.end()) {
      Tracked t = std::move(*was);
      experiments_.erase(was);
      ExperimentSpec spec;
      spec.name = x.name;
      spec.addresses = x.addresses;
      if (!x.cgroup.empty()) spec.cgroup_glob = x.cgroup;
      if (spec.addresses != t.spec.addresses || spec.cgroup_glob != t.spec.cgroup_glob) {
        // Found again from its new addresses or glob (whether it is host-network may change).
        log_info("experiment {}: addresses or cgroup changed; looking for its pod again", x.name);
        assign(t, nullptr);
        t.spec = std::move(spec);
        scanned_ = false;
      }
      next.push_back(std::move(t));
      continue;
    }
    Tracked t = track(x, x.id, devices_);
    if (!t.data_dir.empty() && !apply_quota(t)) ++failed;
    next.push_back(std::move(t));
    scanned_ = false;  // look for its pod at the next tick
  }
  for (Tracked& gone : experiments_) {
    if (gone.host_network && hooks_.detach) {
      if (auto r = hooks_.detach(gone.id, gone.pod); !r) {
        log_warning("experiment {}: {}", gone.name, r.error().message);
      }
    }
    log_info("experiment {}: no longer configured{}", gone.name,
             gone.pod.empty() ? ""
                              : fmt::format("; the limits on its pod {} stay as they are, no "
                                            "longer looked after",
                                            gone.pod));
  }
  experiments_ = std::move(next);
  ++pods_generation_;
  pod_cgroups_changed_ = true;
  return failed;
}

Expected<void> CgroupEnforcer::apply_quota(Tracked& t) {
  // The directory itself now; the tree below it by the walker, off the loop.
  auto r = apply_project_quota(t.data_dir, t.project_id, t.disk_bytes, QuotaWalk::kNever);
  if (!r) {
    log_error("experiment {}: disk quota on {}: {}", t.name, t.data_dir, r.error().message);
    return r.error();
  }
  t.quota_fs = r->fs;
  t.resources->disk_used_bytes.store(r->quota.used_bytes, std::memory_order_relaxed);
  t.resources->disk_limit_bytes.store(r->quota.hard_limit_bytes, std::memory_order_relaxed);
  t.resources->disk_known.store(true, std::memory_order_release);
  log_info("experiment {}: disk quota {} bytes on {} ({}, project {}), {} bytes used", t.name,
           r->quota.hard_limit_bytes, t.data_dir, r->fs.fs_type, t.project_id, r->quota.used_bytes);
  walker_.request({t.name, t.data_dir, t.project_id});
  return {};
}

void CgroupEnforcer::request_quota_walks() {
  for (const Tracked& t : experiments_) {
    if (t.quota_fs) walker_.request({t.name, t.data_dir, t.project_id});
  }
}

void CgroupEnforcer::collect_quota_walks() {
  for (QuotaWalker::Outcome& o : walker_.finished()) {
    Tracked* t = nullptr;
    for (Tracked& x : experiments_) {
      if (x.name == o.job.experiment && x.data_dir == o.job.dir &&
          x.project_id == o.job.project_id) {
        t = &x;
      }
    }
    if (t == nullptr) continue;  // removed or changed by a reload meanwhile
    if (!o.tagged) {
      log_error("experiment {}: tagging {} with project {}: {}", t->name, t->data_dir,
                t->project_id, o.error);
      continue;
    }
    const bool first = !t->walked;
    t->walked = true;
    if (o.tagged->changed == 0) continue;
    if (first) {
      log_info("experiment {}: {} files and directories below {} tagged with project {}", t->name,
               o.tagged->changed, t->data_dir, t->project_id);
      continue;
    }
    // Someone reset them (a file's owner may set its project id to 0): they were outside the
    // quota until now.
    totals_.drift_corrections.fetch_add(o.tagged->changed, std::memory_order_relaxed);
    log_warning(
        "experiment {}: {} files or directories below {} had lost project id {} and were "
        "outside its disk quota; tagged again",
        t->name, o.tagged->changed, t->data_dir, t->project_id);
  }
}

std::size_t CgroupEnforcer::apply_quotas() {
  std::size_t failed = 0;
  for (Tracked& t : experiments_) {
    if (!t.data_dir.empty() && !apply_quota(t)) ++failed;
  }
  return failed;
}

void CgroupEnforcer::tick(bool rescan_now) {
  ++ticks_;
  if (rescan_now || !scanned_ || scanner_.incomplete() || ticks_ % kFullRescanTicks == 0) {
    rescan();
  }
  for (Tracked& t : experiments_) {
    if (!t.pod.empty()) check_drift(t);
    if (!t.pod.empty()) read_usage_of(t);
    if (t.quota_fs && ticks_ % kQuotaReadTicks == 0) read_quota_of(t);
  }
  if (pod_cgroups_changed_) sync_pod_cgroups();
  collect_quota_walks();
  if (const auto now = std::chrono::steady_clock::now(); now >= next_quota_check_) {
    next_quota_check_ = now + quota_check_interval_;
    if (!walker_.busy()) request_quota_walks();  // a slow walk is not queued again behind itself
  }
}

void CgroupEnforcer::sync_pod_cgroups() {
  pod_cgroups_changed_ = false;
  if (!hooks_.pod_cgroups) return;
  std::map<std::uint64_t, std::uint32_t> pods;
  for (const Tracked& t : experiments_) {
    if (!t.pod.empty() && !t.spec.addresses.empty()) pods.emplace(t.cgroup_id, t.id);
  }
  if (auto r = hooks_.pod_cgroups(pods); !r) {
    // The map is full: the pods not in it are attributed by address meanwhile. Tried again at
    // the next change.
    if (!pod_cgroups_failed_logged_) log_error("egress attribution by pod: {}", r.error().message);
    pod_cgroups_failed_logged_ = true;
  } else {
    pod_cgroups_failed_logged_ = false;
  }
}

Expected<void> CgroupEnforcer::set_allocation(std::uint32_t id, const Allocation& allocation) {
  Tracked* found = nullptr;
  for (Tracked& t : experiments_) {
    if (t.id == id) found = &t;
  }
  if (!found) return Error{fmt::format("no experiment with id {}", id)};
  Tracked& t = *found;
  auto values = cgroup_values(allocation, devices_);
  if (!values) return Error{fmt::format("experiment {}: {}", t.name, values.error().message)};
  std::vector<std::string> problems;
  t.allocation = allocation;
  t.values = std::move(*values);
  if (!t.pod.empty()) {
    const CgroupApplyResult r = limits_.apply(t.pod, t.values);
    if (r.gone) {
      log_info("experiment {}: pod cgroup {} vanished while its new limits were applied", t.name,
               t.pod);
      scanned_ = false;
    } else {
      for (const auto& e : r.setup_errors) problems.push_back(e);
      for (const auto& f : r.files) {
        if (f.status == CgroupFileStatus::kFailed) problems.push_back(f.error);
      }
      log_info("experiment {}: limits now {}", t.name, describe(t.values));
    }
  }
  if (allocation.disk_bytes != t.disk_bytes) {
    t.disk_bytes = allocation.disk_bytes;
    if (!t.data_dir.empty()) {
      if (auto q = apply_project_quota(t.data_dir, t.project_id, t.disk_bytes, QuotaWalk::kNever);
          !q) {
        problems.push_back(fmt::format("disk quota on {}: {}", t.data_dir, q.error().message));
      } else {
        t.quota_fs = q->fs;
        t.resources->disk_limit_bytes.store(q->quota.hard_limit_bytes, std::memory_order_relaxed);
        t.resources->disk_known.store(true, std::memory_order_release);
        log_info("experiment {}: disk quota now {} bytes on {}", t.name, t.disk_bytes, t.data_dir);
      }
    }
  }
  if (problems.empty()) return {};
  std::string all;
  for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
  return Error{fmt::format("experiment {}: {}", t.name, all)};
}

std::string CgroupEnforcer::pod_of(const std::string& experiment) const {
  for (const Tracked& t : experiments_) {
    if (t.name == experiment) return t.pod;
  }
  return {};
}

std::unordered_map<std::string, std::string> CgroupEnforcer::pods() const {
  std::unordered_map<std::string, std::string> out;
  for (const Tracked& t : experiments_) {
    if (!t.pod.empty()) out.emplace(t.name, t.pod);
  }
  return out;
}

void CgroupEnforcer::rescan() {
  auto pods = scanner_.scan();
  if (!pods) {
    // No kubepods tree (yet): an ordinary state on a node that is starting.
    if (!scan_failed_logged_) {
      log_warning("cannot look for experiment pods: {}", pods.error().message);
      scan_failed_logged_ = true;
    }
    scanned_ = false;
    return;
  }
  scan_failed_logged_ = false;
  std::vector<ExperimentSpec> specs;
  specs.reserve(experiments_.size());
  for (const Tracked& t : experiments_) {
    specs.push_back(t.spec);
    specs.back().held_cgroup_id = t.cgroup_id;  // its limits stay on the pod that has them
  }
  const MatchResult m = match(specs, *pods);
  conflicts_.report(m.warnings);
  for (std::size_t i = 0; i < experiments_.size(); ++i) {
    experiments_[i].resources->pod_conflicts.store(
        static_cast<std::uint32_t>(m.experiments[i].conflicts), std::memory_order_relaxed);
    const auto& chosen = m.experiments[i].chosen;
    assign(experiments_[i], chosen ? &(*pods)[chosen->pod] : nullptr);
  }
  scanned_ = true;
}

void CgroupEnforcer::assign(Tracked& t, const PodInfo* pod) {
  const std::string path = pod ? pod->path : std::string();
  const std::uint64_t cgroup_id = pod ? pod->cgroup_id : 0;
  if (path == t.pod && cgroup_id == t.cgroup_id) return;
  if (!t.pod.empty()) {
    log_info("experiment {}: its pod cgroup {} is gone or replaced", t.name, t.pod);
    if (t.host_network && hooks_.detach) {
      if (auto r = hooks_.detach(t.id, t.pod); !r) {
        log_warning("experiment {}: {}", t.name, r.error().message);
      }
    }
  }
  t.pod = path;
  ++pods_generation_;
  t.cgroup_id = cgroup_id;
  t.host_network = false;
  pod_cgroups_changed_ = true;
  t.last_cpu_usec = 0;  // a new pod's CPU counter starts again
  t.resources->cpu_cores_milli.store(0, std::memory_order_relaxed);
  t.resources->containers.store(pod ? 1 : 0, std::memory_order_relaxed);
  if (!pod) return;

  const CgroupApplyResult r = limits_.apply(path, t.values);
  if (r.gone) {
    log_info("experiment {}: pod cgroup {} vanished while its limits were applied", t.name, path);
    t.pod.clear();
    ++pods_generation_;
    t.cgroup_id = 0;
    t.resources->containers.store(0, std::memory_order_relaxed);
    scanned_ = false;  // look again next tick
    return;
  }
  for (const auto& e : r.setup_errors) log_error("experiment {}: {}", t.name, e);
  for (const auto& f : r.files) {
    if (f.status == CgroupFileStatus::kFailed) log_error("experiment {}: {}", t.name, f.error);
  }
  log_info("experiment {}: found in {}; limits applied ({} of {}{}): {}", t.name, path, r.written(),
           t.values.size(),
           r.systemd_unit.empty() ? "" : fmt::format(", through systemd unit {}", r.systemd_unit),
           describe(t.values));

  // An experiment without addresses of its own is counted and limited through its cgroup.
  if (t.spec.addresses.empty() && hooks_.attach) {
    if (auto a = hooks_.attach(t.id, path); !a) {
      if (a.error().code == ENOENT) {
        // Pods come and go: this one went between the scan and the attach. The drift check
        // forgets it, and the next scan finds its successor.
        log_info("experiment {}: pod cgroup {} vanished before its traffic could be counted",
                 t.name, path);
        scanned_ = false;
      } else {
        log_error("experiment {}: bandwidth accounting on {}: {}", t.name, path, a.error().message);
      }
    } else {
      t.host_network = true;
    }
  }
}

void CgroupEnforcer::check_drift(Tracked& t) {
  const CgroupCheckResult c = applier_.check(t.pod, t.values);
  if (c.gone) {
    log_info("experiment {}: pod cgroup {} vanished", t.name, t.pod);
    assign(t, nullptr);
    scanned_ = false;  // its replacement may be there already
    return;
  }
  std::vector<std::string> report = c.errors;
  std::vector<CgroupFileValue> restore;
  for (const auto& d : c.drifted) {
    report.push_back(fmt::format("{}/{} holds \"{}\", not \"{}\"; restoring it", t.pod,
                                 d.wanted.file, d.missing ? "(missing)" : d.found, d.wanted.value));
    restore.push_back(d.wanted);
  }
  if (!restore.empty()) {
    const CgroupApplyResult r = limits_.apply(t.pod, restore);
    totals_.drift_corrections.fetch_add(r.written(), std::memory_order_relaxed);
    for (const auto& f : r.files) {
      if (f.status == CgroupFileStatus::kFailed) report.push_back(f.error);
    }
  }
  // Every correction is counted (enforcer_cgroup_drift_corrections_total); the log says what
  // happened once, and again only when it changes or kDriftReportRepeat later, so a limit that
  // cannot be written (a controller missing) does not log every tick.
  std::string text;
  for (const auto& line : report) text += (text.empty() ? "" : "\n") + line;
  const auto now = std::chrono::steady_clock::now();
  if (text.empty()) {
    if (!t.last_drift_report.empty())
      log_info("experiment {}: its cgroup limits hold again", t.name);
  } else if (text != t.last_drift_report || now - t.last_drift_logged >= kDriftReportRepeat) {
    for (const auto& line : report) log_warning("experiment {}: {}", t.name, line);
    t.last_drift_logged = now;
  }
  t.last_drift_report = std::move(text);
}

void CgroupEnforcer::read_usage_of(Tracked& t) {
  const CgroupUsageResult u = read_usage(t.pod);
  if (u.gone) return;  // the next check notices
  ResourceState& r = *t.resources;
  constexpr auto kRelaxed = std::memory_order_relaxed;
  const auto now = std::chrono::steady_clock::now();
  if (t.last_cpu_usec != 0 && u.usage.cpu.usage_usec >= t.last_cpu_usec && now > t.last_cpu_read) {
    const double seconds = std::chrono::duration<double>(now - t.last_cpu_read).count();
    const double cores =
        static_cast<double>(u.usage.cpu.usage_usec - t.last_cpu_usec) / 1e6 / seconds;
    r.cpu_cores_milli.store(static_cast<std::uint64_t>(cores * 1000 + 0.5), kRelaxed);
  }
  t.last_cpu_usec = u.usage.cpu.usage_usec;
  t.last_cpu_read = now;
  r.cpu_usage_usec.store(u.usage.cpu.usage_usec, kRelaxed);
  r.cpu_throttled_usec.store(u.usage.cpu.throttled_usec, kRelaxed);
  if (u.usage.memory_current) r.memory_bytes.store(*u.usage.memory_current, kRelaxed);
  r.memory_limit_bytes.store(u.usage.memory_max.value_or(0), kRelaxed);
  if (u.usage.memory_events) r.oom_kills.store(u.usage.memory_events->oom_kill, kRelaxed);
  if (u.usage.io) {
    r.io_read_bytes.store(u.usage.io->total.rbytes, kRelaxed);
    r.io_write_bytes.store(u.usage.io->total.wbytes, kRelaxed);
  }
  r.cgroup_known.store(true, std::memory_order_release);
}

void CgroupEnforcer::read_quota_of(Tracked& t) {
  auto q = get_project_quota(*t.quota_fs, t.project_id);
  if (!q) {
    log_warning("experiment {}: reading the disk quota of {}: {}", t.name, t.data_dir,
                q.error().message);
    return;
  }
  t.resources->disk_used_bytes.store(q->used_bytes, std::memory_order_relaxed);
  t.resources->disk_limit_bytes.store(q->hard_limit_bytes, std::memory_order_relaxed);
}

}  // namespace enforcer
