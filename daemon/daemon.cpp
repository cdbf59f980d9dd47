#include "daemon.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/ranges.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "bandwidth/snapshot_writer.hpp"
#include "bandwidth/window_snapshot.hpp"
#include "base/log.hpp"
#include "base/version.hpp"
#include "config/reload_plan.hpp"
#include "datapath/kernel_features.hpp"
#include "lifecycle/experiment_changes.hpp"
#include "lifecycle/restore.hpp"

namespace enforcer {

namespace {

namespace fs = std::filesystem;

// The sampler's tick index is this plus the ticks since start: a window restored from a snapshot
// holds ticks before the first one, and the ring's slot arithmetic needs them non-negative.
constexpr std::uint64_t kFirstTick = std::uint64_t{1} << 32;
// A snapshot every this many ticks (and at a clean stop). The traffic since the latest one is
// not lost at a restart (the adopted counters hold it); only its position in the window is
// (it all lands in the newest slot, where it counts against the budget longest).
constexpr std::uint64_t kSnapshotTicks = 5;

std::string snapshot_path(const Config& c) {
  return c.daemon.state_dir + "/windows.snapshot";
}

std::string read_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

std::int64_t ns_since_epoch(auto time_point) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time_point.time_since_epoch())
      .count();
}

}  // namespace

// Holds `state_dir`/enforcerd.lock for the daemon's lifetime: a second daemon on the same state
// is refused, and the lock disappears with the process however it ends.
Expected<Fd> take_state_lock(const std::string& state_dir) {
  std::error_code ec;
  fs::create_directories(state_dir, ec);
  if (ec) return Error{fmt::format("cannot create state_dir {}: {}", state_dir, ec.message())};
  const std::string path = state_dir + "/enforcerd.lock";
  Fd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) return Error{fmt::format("cannot open {}: {}", path, std::strerror(errno))};
  if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char pid[32] = {};
    const ssize_t n = pread(fd.get(), pid, sizeof pid - 1, 0);
    std::string holder = n > 0 ? std::string(pid, static_cast<std::size_t>(n)) : "?";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    if (err == EWOULDBLOCK) {
      return Error{
          fmt::format("another enforcerd (pid {}) is running on state_dir {}", holder, state_dir)};
    }
    return Error{fmt::format("cannot lock {}: {}", path, std::strerror(err))};
  }
  const std::string pid = fmt::format("{}\n", getpid());
  if (ftruncate(fd.get(), 0) != 0 || pwrite(fd.get(), pid.data(), pid.size(), 0) < 0) {
    log_warning("cannot write the pid to {}: {}", path, std::strerror(errno));
  }
  return fd;
}

Daemon::Daemon(Config config, ConfigPaths paths, ConfigInputs inputs)
    : config_(std::move(config)),
      config_paths_(std::move(paths)),
      config_inputs_(std::move(inputs)),
      signals_(io_, SIGINT, SIGTERM, SIGHUP),
      timer_(io_) {}

Daemon::~Daemon() {
  // Order matters: stop serving scrapes and requests before the state they read goes away, then
  // detach.
  control_.reset();
  controller_.reset();
  metrics_server_.reset();
  collector_.reset();
  if (watcher_fd_) watcher_fd_->release();  // the watcher owns the fd
  watcher_fd_.reset();
  watcher_.reset();
  cgroups_.reset();
  status_writer_.reset();  // its pass reads the experiments' state
  sampler_.reset();
  datapath_.reset();
  snapshot_writer_.reset();  // writes what waits: the state is this daemon's until the lock goes
  lock_fd_.reset();          // last: another daemon may start only once this one has detached
}

Expected<void> Daemon::start() {
  auto lock = take_state_lock(config_.daemon.state_dir);
  if (!lock) return lock.error();
  lock_fd_ = std::move(*lock);
  snapshot_writer_ = std::make_unique<SnapshotWriter>(snapshot_path(config_));
  // Cheap checks first, so that a typo fails before anything is set up.
  std::vector<std::string> uplinks = config_.network.interfaces;
  if (config_.network.uplink_address) {
    uplink_follower_.emplace(*config_.network.uplink_address);
    auto holder = uplink_follower_->locate();
    if (!holder) {
      return Error{fmt::format("network.interfaces = [\"auto\"]: {} (epoxy.ipv4= in {})",
                               holder.error().message, config_.network.kernel_cmdline)};
    }
    log_info("the host's address {} (epoxy.ipv4=) is on {}: the uplink",
             to_string(*config_.network.uplink_address), *holder);
    uplinks = {*holder};
  } else if (auto found = interface_indexes(uplinks); !found) {
    return found.error();
  }

  collector_ = std::make_shared<MetricsCollector>(
      table_, unattributed_, tick_stats_, config_.daemon.tick, kVersion, &cgroup_totals_, &status_);
  status_.last_reload_success_unix.store(std::chrono::duration_cast<std::chrono::seconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  auto metrics = MetricsServer::create(config_.daemon.metrics_listen, collector_);
  if (!metrics) return metrics.error();
  metrics_server_ = std::move(*metrics);

  // An older kernel gets one error naming what it lacks, not a verifier log.
  const KernelFeatureReport kernel = probe_kernel_features();
  if (auto r = kernel_features_error(kernel); !r) return r.error();
  log_info("kernel {}: every BPF feature the datapath needs is there ({} probed)", kernel.release,
           kernel.features.size());
  auto datapath = BpfDatapath::create(
      BpfDatapathOptions{config_.daemon.bpf_pin_dir, uplinks, config_.daemon.max_experiments,
                         config_.network.enforcement, uplink_follower_.has_value(), true, true});
  if (!datapath) return datapath.error();
  datapath_ = std::move(*datapath);

  if (auto r = add_experiments(); !r) return r;
  sampler_ = std::make_unique<Sampler>(*datapath_, table_, unattributed_);
  LimiterSettings limits;
  limits.tick = config_.daemon.tick;
  limits.link_rate_bits = config_.network.link_rate_bits;
  limiter_ = std::make_unique<Limiter>(*datapath_, table_, limits);

  start_cgroups();

  // Overrides stored by a previous run apply from the first tick.
  ControllerContext ctx;
  ctx.config = &config_;
  ctx.table = &table_;
  ctx.cgroups = [this] { return cgroups_.get(); };
  ctx.reload = [this] { return reload(); };
  ctx.version = kVersion;
  ctx.status = &status_;
  controller_ = std::make_unique<Controller>(std::move(ctx));
  auto control = ControlServer::create(
      io_, config_.daemon.control_socket, config_.daemon.control_group,
      [this](const Request& r, const Peer& p) { return controller_->handle(r, p); });
  if (!control) return control.error();
  control_ = std::move(*control);

  config_follower_.follow(config_inputs_);
  if (!config_.daemon.status_dir.empty()) {
    status_writer_ = std::make_unique<StatusWriter>(config_.daemon.status_dir);
  }

  log_info("enforcerd {} enforcing {} experiment(s) on {}; metrics at http://{}/metrics", kVersion,
           config_.experiments.size(), fmt::join(uplinks, ", "), config_.daemon.metrics_listen);
  return {};
}

Expected<void> Daemon::add_experiments() {
  boot_id_ = read_boot_id();
  RestoreInput input;
  input.snapshot_path = snapshot_path(config_);
  input.first_tick = kFirstTick;
  auto loaded = load_window_snapshot(input.snapshot_path, std::chrono::system_clock::now());
  if (loaded.warning) log_warning("{}", *loaded.warning);
  if (loaded.snapshot) {
    input.snapshot = &*loaded.snapshot;
    input.elapsed_ticks =
        ticks_since(*loaded.snapshot, ns_since_epoch(std::chrono::system_clock::now()),
                    ns_since_epoch(std::chrono::steady_clock::now()), boot_id_);
  }
  return restore_experiments(*datapath_, table_, config_, input);
}

WindowSnapshot Daemon::capture_snapshot() const {
  SnapshotClocks clocks;
  clocks.tick_ns = config_.daemon.tick.count();
  clocks.wall_ns = ns_since_epoch(std::chrono::system_clock::now());
  clocks.monotonic_ns = ns_since_epoch(std::chrono::steady_clock::now());
  clocks.boot_id = boot_id_;
  return capture_window_snapshot(*table_.snapshot(), clocks);
}

void Daemon::start_cgroups() {
  cgroup_root_ = config_.daemon.cgroup_root;
  if (cgroup_root_.empty()) {
    std::ifstream in("/proc/self/mountinfo");
    std::stringstream text;
    text << in.rdbuf();
    cgroup_root_ = find_cgroup2_mount(text.str());
  }
  if (cgroup_root_.empty()) {
    log_warning("no cgroup2 file system is mounted: CPU, memory and I/O limits are not enforced");
    datapath_->release_unclaimed_cgroups();
    // Egress is attributed by address alone; pods an adopted datapath knew are forgotten.
    if (auto r = datapath_->set_pod_cgroups({}); !r) log_warning("{}", r.error().message);
    return;
  }
  cgroups_ = std::make_unique<CgroupEnforcer>(
      config_, cgroup_root_, table_, cgroup_totals_,
      CgroupHooks{[this](std::uint32_t id, const std::string& path) {
                    return datapath_->attach_cgroup(id, path);
                  },
                  [this](std::uint32_t id, const std::string& path) {
                    return datapath_->detach_cgroup(id, path);
                  },
                  [this](const std::map<std::uint64_t, std::uint32_t>& pods) {
                    return datapath_->set_pod_cgroups(pods);
                  }});
  cgroups_->apply_quotas();
  watch_cgroups();
}

void Daemon::watch_cgroups() {
  if (watcher_fd_) watcher_fd_->release();
  watcher_fd_.reset();
  watcher_.reset();
  auto w = CgroupWatcher::create(default_scan_root(cgroup_root_));
  if (!w) {
    // No pod tree yet: the periodic rescan finds pods, and a watcher is tried again then.
    log_debug("not watching for pods: {}", w.error().message);
    return;
  }
  watcher_.emplace(std::move(*w));
  watcher_fd_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, watcher_->fd());
  cgroups_changed_ = true;
  wait_cgroup_events();
}

void Daemon::wait_cgroup_events() {
  watcher_fd_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                          [this](const boost::system::error_code& ec) {
                            if (ec || !watcher_) return;
                            if (watcher_->drain()) cgroups_changed_ = true;
                            if (watcher_->root_gone()) return;  // re-made by the tick
                            wait_cgroup_events();
                          });
}

void Daemon::wait_signals() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      reload_and_log("received SIGHUP");
      wait_signals();
      return;
    }
    log_info("received {}, stopping", strsignal(signo));
    notifier_.stopping();
    watchdog_timer_.cancel();
    timer_.cancel();
    io_.stop();
  });
}

void Daemon::reload_and_log(std::string_view why) {
  log_info("{}: reloading {} and the drop-ins of {}", why, config_paths_.main,
           dropin_dir_of(config_paths_));
  notifier_.reloading();
  if (auto n = reload(); !n) {
    log_error("the configuration was not reloaded; still enforcing the previous one:");
    log_lines(LogLevel::kError, n.error().message);  // one error a line
  } else {
    controller_->apply_all();
    log_info("configuration reloaded: {} experiment(s)", *n);
  }
  notifier_.ready(fmt::format("enforcing {} experiment(s)", config_.experiments.size()));
}

Expected<std::size_t> Daemon::reload() {
  auto r = reload_files();
  (r ? status_.reloads_ok : status_.reloads_failed).fetch_add(1, std::memory_order_relaxed);
  status_.last_reload_ok.store(r.ok());
  return r;
}

Expected<std::size_t> Daemon::reload_files() {
  ConfigResult loaded = load_config(config_paths_, system_file_access());
  // Follow what this attempt read too: a rejected change is seen again once fixed, wherever.
  const ConfigInputs attempted = config_inputs(config_paths_, loaded.sources);
  const ConfigInputs both = merge_inputs(config_inputs_, attempted);
  config_follower_.follow(both);
  std::vector<ConfigError> errors = std::move(loaded.errors);
  if (loaded.config) {
    auto more = resolve_devices(*loaded.config, config_paths_.main);
    errors.insert(errors.end(), more.begin(), more.end());
    auto bad_overrides = check_config_overrides(*loaded.config, WallClock::now());
    errors.insert(errors.end(), bad_overrides.begin(), bad_overrides.end());
  }
  if (!errors.empty()) {
    std::string text;
    for (const auto& e : errors) text += (text.empty() ? "" : "\n") + e.to_string();
    return Error{text};
  }
  Config& next = *loaded.config;
  ReloadPlan plan = plan_reload(config_, next);
  if (!plan.errors.empty()) {
    std::string text;
    for (const auto& e : plan.errors) text += (text.empty() ? "" : "\n") + e;
    return Error{text};
  }
  if (auto r = apply_experiment_changes(plan, next); !r) {
    return r.error();
  }
  config_ = std::move(next);
  set_optional_flags(table_, config_);
  config_inputs_ = attempted;
  if (!(attempted == both)) config_follower_.follow(attempted);
  status_.last_reload_success_unix.store(std::chrono::duration_cast<std::chrono::seconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  return config_.experiments.size();
}

Expected<void> Daemon::apply_experiment_changes(const ReloadPlan& plan, const Config& next) {
  if (!changes_experiments(plan)) return {};
  if (auto r = change_experiments(*datapath_, table_, config_, next, plan); !r) return r;
  if (cgroups_) cgroups_->set_experiments(next);
  retire_experiments(*datapath_, config_, next, plan);
  std::string removed_names;
  for (std::size_t r : plan.removed) {
    const ExperimentConfig& x = config_.experiments[r];
    removed_names += fmt::format("{}{}", removed_names.empty() ? "" : ", ", x.name);
    controller_->forget(x.id);
  }
  std::string added_names;
  for (std::size_t n : plan.added) {
    const ExperimentConfig& x = next.experiments[n];
    added_names += fmt::format("{}{} (id {})", added_names.empty() ? "" : ", ", x.name, x.id);
    controller_->added(x);
  }
  log_info("reload: {} experiment(s) added{}{}, {} removed{}{}, {} with new addresses or cgroup",
           plan.added.size(), added_names.empty() ? "" : ": ", added_names, plan.removed.size(),
           removed_names.empty() ? "" : ": ", removed_names, plan.readdressed.size());
  return {};
}

void Daemon::pet_watchdog() {
  // From the event loop itself: a loop that hangs stops petting, and systemd restarts us.
  notifier_.watchdog();
  watchdog_timer_.expires_after(notifier_.watchdog_interval() / 3);
  watchdog_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) pet_watchdog();
  });
}

void Daemon::run() {
  wait_signals();
  if (notifier_.watchdog_interval().count() > 0) pet_watchdog();
  epoch_ = std::chrono::steady_clock::now();
  // The first sample at tick 0 sets each counter's baseline.
  on_tick();
  io_.run();
  // A clean stop: the next start resumes the windows from here. Held (the default), the datapath
  // stays, every experiment at its allocation, and counts what passes until the next daemon
  // adopts it; removed, the traffic while no daemon runs is neither limited nor counted.
  snapshot_writer_->submit(capture_snapshot());
  snapshot_writer_->flush();
  if (config_.daemon.on_stop == OnStop::kHold) datapath_->hold();
}

void Daemon::write_status_files(std::uint64_t tick) {
  if (!status_writer_) return;
  // At most once a second: readers poll, and a file per experiment each tick would cost a fleet
  // of thousands of experiments more than the tick itself. A pass still running (a slow disk,
  // thousands of experiments) delays the next.
  const auto every = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::chrono::seconds(1) / config_.daemon.tick));
  if (tick < next_status_tick_ || !status_writer_->idle()) return;
  status_writer_->submit(controller_->status_inputs(), std::chrono::system_clock::now());
  next_status_tick_ = (tick / every + 1) * every;
}

void Daemon::schedule_tick() {
  timer_.expires_at(epoch_ + next_tick_ * config_.daemon.tick);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) on_tick();
  });
}

void Daemon::on_tick() {
  const auto start = std::chrono::steady_clock::now();
  // The tick index comes from elapsed time, so a late timer still lands in the right slot.
  const auto tick = static_cast<std::uint64_t>((start - epoch_) / config_.daemon.tick);
  controller_->tick();                          // expired overrides end here
  resize_windows(table_, config_.daemon.tick);  // a window override takes effect here
  if (auto r = sampler_->sample(kFirstTick + tick); !r) {
    // A transient failure loses nothing: the counters are cumulative, the next tick catches up.
    if (sample_errors_++ % 60 == 0) log_error("sampling counters: {}", r.error().message);
  } else if (auto l = limiter_->apply(); !l) {
    // The datapath keeps the previous limits; every limit is pushed again next tick. Unconfirmed,
    // they give way to the fallbacks a few ticks from now.
    if (limit_errors_++ % 60 == 0) log_error("setting rate limits: {}", l.error().message);
  } else {
    // steady_clock is CLOCK_MONOTONIC, the programs' bpf_ktime_get_ns().
    datapath_->confirm_limits_until(
        static_cast<std::uint64_t>(ns_since_epoch(start + limits_validity())));
  }
  // The pods: limits for new ones, drift restored, usage read.
  if (cgroups_) {
    if (next_tick_ % CgroupEnforcer::kFullRescanTicks == 0 &&
        (!watcher_ || watcher_->root_gone())) {
      watch_cgroups();
    }
    cgroups_->tick(cgroups_changed_);
    cgroups_changed_ = false;
    if (!unclaimed_released_ && cgroups_->scanned()) {
      // Adopted cgroup links whose cgroups the first complete scan did not find are no
      // experiment's now.
      if (const std::size_t n = datapath_->release_unclaimed_cgroups()) {
        log_info("released the adopted cgroup_skb links of {} cgroup(s) no experiment has now", n);
      }
      unclaimed_released_ = true;
    }
  }
  // The uplinks: one that follows the host's address moves with it; a changed root qdisc swaps
  // the egress program; removed filters come back.
  if (uplink_follower_) uplink_follower_->follow(*datapath_);
  if (auto r = datapath_->refresh(); !r) {
    if (refresh_errors_++ % 60 == 0) log_error("checking the uplinks: {}", r.error().message);
  }
  write_status_files(tick);
  // Only when the previous one is written: a disk slower than kSnapshotTicks delays the next
  // snapshot rather than queueing copies of every window.
  if (tick >= next_snapshot_tick_ && snapshot_writer_->idle()) {
    snapshot_writer_->submit(capture_snapshot());
    next_snapshot_tick_ = tick + kSnapshotTicks;
  }
  tick_stats_.observe(std::chrono::steady_clock::now() - start);
  if (!ready_sent_) {
    // The first enforcement pass is done: limits are in the datapath and on the pods found.
    notifier_.ready(fmt::format("enforcing {} experiment(s)", config_.experiments.size()));
    ready_sent_ = true;
  }
  next_tick_ = tick + 1;
  schedule_tick();
}

}  // namespace enforcer
