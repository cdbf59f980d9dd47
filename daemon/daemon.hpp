// enforcerd's runtime: owns the datapath, the experiment state, the metrics endpoint and the Asio
// event loop (tick timer, signals).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <optional>

#include "bandwidth/limiter.hpp"
#include "bandwidth/sampler.hpp"
#include "bandwidth/snapshot_writer.hpp"
#include "base/fd.hpp"
#include "config/config.hpp"
#include "config/config_files.hpp"
#include "config/reload_plan.hpp"
#include "config_follower.hpp"
#include "control/status_writer.hpp"
#include "control_server.hpp"
#include "controller.hpp"
#include "datapath/bpf_datapath.hpp"
#include "metrics/metrics_collector.hpp"
#include "metrics/tick_stats.hpp"
#include "metrics_server.hpp"
#include "pods/cgroup_enforcer.hpp"
#include "pods/discovery.hpp"
#include "state/experiments.hpp"
#include "systemd_notify.hpp"
#include "uplink_follower.hpp"

namespace enforcer {

// Holds `state_dir`/enforcerd.lock (returns its fd; the lock goes with the Fd or the process):
// one daemon per state. An error names the pid of the daemon holding it.
Expected<Fd> take_state_lock(const std::string& state_dir);

class Daemon {
 public:
  // `paths`: where `config` was read from (a reload reads the main file and the drop-ins again);
  // `inputs`: every file it read (config_inputs), followed for changes once started.
  Daemon(Config config, ConfigPaths paths, ConfigInputs inputs);
  ~Daemon();

  // Takes the lock, opens the metrics endpoint, loads and attaches the datapath, registers the
  // experiments. On error nothing stays attached or pinned.
  Expected<void> start();
  // Runs until SIGTERM or SIGINT.
  void run();

 private:
  void schedule_tick();
  // The experiments' status files (daemon.status_dir), at most once a second.
  void write_status_files(std::uint64_t tick);
  // How long the limits a tick sets hold without the next ticks confirming them: a few ticks,
  // at least a second (a tick delayed by a slow scan is no dead daemon).
  std::chrono::nanoseconds limits_validity() const {
    return std::max<std::chrono::nanoseconds>(3 * config_.daemon.tick, std::chrono::seconds(1));
  }
  void on_tick();
  void start_cgroups();
  void watch_cgroups();  // (re)creates the pod watcher when its tree exists
  void wait_cgroup_events();
  void wait_signals();
  void pet_watchdog();
  // Reads the config files again (the main file, the drop-ins, the "@" files) and applies them:
  // changed allocations and pinned rates, experiments added and removed, kept experiments' new
  // addresses (lib/config/reload_plan.hpp); or returns every problem and changes nothing.
  Expected<std::size_t> reload();
  Expected<std::size_t> reload_files();  // reload() without the counting
  // A reload for a signal or a change of the files: logged, told to systemd, overrides re-applied.
  void reload_and_log(std::string_view why);
  // Carries out a reload's experiment changes (lib/lifecycle/experiment_changes.hpp) and tells
  // the cgroup side and the controller. On a failure the running configuration stays in force.
  Expected<void> apply_experiment_changes(const ReloadPlan& plan, const Config& next);
  // Reads the window snapshot a previous run wrote and the clocks, and registers the configured
  // experiments from it (lib/lifecycle/restore.hpp).
  Expected<void> add_experiments();
  // Every experiment's windows as they are now, for state_dir/windows.snapshot, which
  // snapshot_writer_ writes (atomically, off the loop; a failure is logged, never fatal).
  WindowSnapshot capture_snapshot() const;

  Config config_;
  ConfigPaths config_paths_;
  ConfigInputs config_inputs_;  // what the configuration in force was read from
  boost::asio::io_context io_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point epoch_;
  std::uint64_t next_tick_ = 1;
  std::string boot_id_;  // /proc/sys/kernel/random/boot_id (the monotonic clock is per boot)
  std::uint64_t next_snapshot_tick_ = 0;
  std::unique_ptr<SnapshotWriter> snapshot_writer_;

  Fd lock_fd_;
  ExperimentTable table_;
  UnattributedTotals unattributed_;
  TickStats tick_stats_;
  std::unique_ptr<BpfDatapath> datapath_;
  std::optional<UplinkFollower> uplink_follower_;  // network.interfaces = ["auto"]
  std::unique_ptr<StatusWriter> status_writer_;    // none: daemon.status_dir = ""
  std::uint64_t next_status_tick_ = 0;
  std::unique_ptr<Sampler> sampler_;
  std::unique_ptr<Limiter> limiter_;
  std::shared_ptr<MetricsCollector> collector_;
  std::unique_ptr<MetricsServer> metrics_server_;
  std::uint64_t sample_errors_ = 0;
  std::uint64_t limit_errors_ = 0;
  std::uint64_t refresh_errors_ = 0;
  bool unclaimed_released_ = false;  // adopted cgroup links no scan claimed are detached

  CgroupTotals cgroup_totals_;
  DaemonStatus status_;
  std::string cgroup_root_;  // daemon.cgroup_root, or the cgroup2 mount found at start
  std::unique_ptr<CgroupEnforcer> cgroups_;
  std::optional<CgroupWatcher> watcher_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> watcher_fd_;
  bool cgroups_changed_ = false;

  ConfigFollower config_follower_{io_, [this] { reload_and_log("its files changed"); }};

  SystemdNotifier notifier_;
  boost::asio::steady_timer watchdog_timer_{io_};
  bool ready_sent_ = false;

  std::unique_ptr<Controller> controller_;
  std::unique_ptr<ControlServer> control_;
};

}  // namespace enforcer
