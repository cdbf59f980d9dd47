// The daemon's cgroup pass: finds each experiment's pod cgroup (lib/discovery), applies the
// experiment's CPU, memory and I/O limits there (lib/cgroup_values; lib/pod_limits: through systemd
// for a pod that is a systemd unit, else lib/cgroup_apply's file writes), restores
// limits someone rewrote (drift), reads the cgroup's usage for the metrics, keeps the project
// quota of the experiment's data_dir (lib/quota), and hands host-network pods to the datapath's
// cgroup_skb programs. Runs on the daemon's event loop, once per tick; a pod that vanishes at any
// point is an ordinary event.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/expected.hpp"
#include "config/config.hpp"
#include "pods/cgroup_apply.hpp"
#include "pods/cgroup_values.hpp"
#include "pods/discovery.hpp"
#include "pods/pod_limits.hpp"
#include "pods/quota.hpp"
#include "pods/quota_walker.hpp"
#include "state/experiments.hpp"

namespace enforcer {

// What the cgroup pass hands to the datapath: attach / detach its cgroup programs for a
// host-network experiment; and the pods of experiments with addresses, whose egress packets are
// attributed by their socket's cgroup (the whole set, pod cgroup id → experiment id, given
// whenever it changed).
struct CgroupHooks {
  std::function<Expected<void>(std::uint32_t id, const std::string& cgroup_path)> attach;
  std::function<Expected<void>(std::uint32_t id, const std::string& cgroup_path)> detach;
  std::function<Expected<void>(const std::map<std::uint64_t, std::uint32_t>& pods)> pod_cgroups;
};

class CgroupEnforcer {
 public:
  // `cgroup_root`: the cgroup2 mount (config's daemon.cgroup_root, or found). The experiments are
  // the config's, in order (experiment i has id i + 1, as in the datapath).
  CgroupEnforcer(const Config& config, std::string cgroup_root, ExperimentTable& table,
                 CgroupTotals& totals, CgroupHooks hooks);

  // Sets every experiment's project quota (data_dir). Errors are logged per experiment and the
  // others go on; returns how many failed.
  std::size_t apply_quotas();

  // One pass: rescans the pods when `rescan` (the watcher saw a change), when the previous scan
  // was incomplete, or every `kFullRescanTicks`; applies limits to newly found pods, checks and
  // restores drifted limits of known ones, reads usage. Never throws; problems are logged.
  void tick(bool rescan);
  // True once the last scan read the whole pod tree.
  bool scanned() const { return scanned_ && !scanner_.incomplete(); }

  // Gives experiment `id` a new CPU, memory, I/O and disk allocation (an operator's override, or
  // its end): the values are written to its pod now (not counted as drift) and its quota is set
  // again. A pod that vanishes meanwhile is ordinary; other failures are returned (the new
  // values are still kept and retried as drift at the next tick).
  Expected<void> set_allocation(std::uint32_t id, const Allocation& allocation);

  // A reload changed the set of experiments (`config`'s, each with its id; the table holds their
  // states already). Experiments gone are forgotten: their cgroup programs are detached (the
  // limits written to their pod stay as they are, and so does their project quota); new ones are
  // looked for at the next tick and get their quota now; kept ones keep their pod and limits,
  // unless their addresses or cgroup glob changed: those are looked for again. Returns how many
  // new quotas failed (logged).
  std::size_t set_experiments(const Config& config);

  // The pod cgroup an experiment's limits are on now (empty: none found).
  std::string pod_of(const std::string& experiment) const;
  // The same for every experiment with a pod, by experiment name.
  std::unordered_map<std::string, std::string> pods() const;
  // Changes whenever pods() may have: a reader caching it compares this instead of the map.
  std::uint64_t pods_generation() const { return pods_generation_; }

  static constexpr std::uint64_t kFullRescanTicks = 30;
  static constexpr std::uint64_t kQuotaReadTicks = 10;

 private:
  struct Tracked {
    std::uint32_t id = 0;
    std::string name;
    ExperimentSpec spec;
    std::vector<CgroupFileValue> values;  // what its pod cgroup must hold
    std::string data_dir;
    std::uint32_t project_id = 0;
    std::uint64_t disk_bytes = 0;
    std::optional<QuotaFilesystem> quota_fs;
    bool walked = false;          // its data_dir has been walked once (later tagging is drift)
    std::string pod;              // the pod cgroup its limits are on ("" none)
    std::uint64_t cgroup_id = 0;  // of that pod (a pod re-made under the same path is new)
    bool host_network = false;    // its pod is attached to the cgroup programs
    std::shared_ptr<ResourceState> resources;  // shared with the experiment's state (metrics)
    Allocation allocation;                     // what values and disk_bytes were made from
    std::uint64_t last_cpu_usec = 0;           // for the CPU use over the last tick
    std::chrono::steady_clock::time_point last_cpu_read;
    // The drift check's last report (logged again only when it changes, or after
    // kDriftReportRepeat): a limit that cannot be restored must not log every tick.
    std::string last_drift_report;
    std::chrono::steady_clock::time_point last_drift_logged;
  };

  Tracked track(const ExperimentConfig& x, std::uint32_t id,
                const std::vector<DeviceConfig>& devices);
  Expected<void> apply_quota(Tracked& t);
  void rescan();
  void assign(Tracked& t, const PodInfo* pod);
  void check_drift(Tracked& t);
  void read_usage_of(Tracked& t);
  void read_quota_of(Tracked& t);
  // Asks for a walk of every quota'd data_dir, or collects the walks that ended.
  void request_quota_walks();
  void collect_quota_walks();

  std::string cgroup_root_;
  std::vector<DeviceConfig> devices_;
  ExperimentTable& table_;
  CgroupTotals& totals_;
  CgroupHooks hooks_;
  PodScanner scanner_;
  CgroupApplier applier_;
  PodLimitWriter limits_;  // through systemd where it owns the pod, else through applier_
  ConflictLog conflicts_;
  std::vector<Tracked> experiments_;
  std::uint64_t ticks_ = 0;
  std::chrono::nanoseconds quota_check_interval_;
  std::chrono::steady_clock::time_point next_quota_check_;
  // Last: its thread must end (the destructor waits) before what its outcomes are applied to.
  QuotaWalker walker_;
  bool scanned_ = false;
  // The pods given to hooks_.pod_cgroups are not the ones assigned now. True at the start, so
  // that the first tick replaces what an adopted datapath held.
  bool pod_cgroups_changed_ = true;
  std::uint64_t pods_generation_ = 0;
  bool pod_cgroups_failed_logged_ = false;
  void sync_pod_cgroups();
  bool scan_failed_logged_ = false;
};

// The cgroup2 mount point from /proc/self/mountinfo text (the first cgroup2 mount), or empty.
std::string find_cgroup2_mount(std::string_view mountinfo_text);

}  // namespace enforcer
