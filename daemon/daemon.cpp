#include "daemon.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "bandwidth/window_snapshot.hpp"
#include "base/log.hpp"
#include "base/state_file.hpp"
#include "base/version.hpp"
#include "config/reload_plan.hpp"

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
Expected<int> take_state_lock(const std::string& state_dir) {
  std::error_code ec;
  fs::create_directories(state_dir, ec);
  if (ec) return Error{fmt::format("cannot create state_dir {}: {}", state_dir, ec.message())};
  const std::string path = state_dir + "/enforcerd.lock";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Error{fmt::format("cannot open {}: {}", path, std::strerror(errno))};
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char pid[32] = {};
    const ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
    close(fd);
    std::string holder = n > 0 ? std::string(pid, static_cast<std::size_t>(n)) : "?";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    if (err == EWOULDBLOCK) {
      return Error{
          fmt::format("another enforcerd (pid {}) is running on state_dir {}", holder, state_dir)};
    }
    return Error{fmt::format("cannot lock {}: {}", path, std::strerror(err))};
  }
  const std::string pid = fmt::format("{}\n", getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    log_warning("cannot write the pid to {}: {}", path, std::strerror(errno));
  }
  return fd;
}

Daemon::Daemon(Config config, std::string config_path)
    : config_(std::move(config)),
      config_path_(std::move(config_path)),
      signals_(io_, SIGINT, SIGTERM, SIGHUP),
      timer_(io_) {}

Daemon::~Daemon() {
  // Order matters: stop serving scrapes and requests before the state they read goes away, then
  // detach.
  control_.reset();
  controller_.reset();
  exposer_.reset();
  collector_.reset();
  if (watcher_fd_) watcher_fd_->release();  // the watcher owns the fd
  watcher_fd_.reset();
  watcher_.reset();
  cgroups_.reset();
  sampler_.reset();
  datapath_.reset();
  if (lock_fd_ >= 0) close(lock_fd_);
}

Expected<void> Daemon::start() {
  auto lock = take_state_lock(config_.daemon.state_dir);
  if (!lock) return lock.error();
  lock_fd_ = *lock;
  // Cheap checks first, so that a typo fails before anything is set up.
  if (auto found = interface_indexes(config_.network.interfaces); !found) return found.error();

  collector_ = std::make_shared<MetricsCollector>(
      table_, unattributed_, tick_stats_, config_.daemon.tick, kVersion, &cgroup_totals_, &status_);
  status_.last_reload_success_unix.store(std::chrono::duration_cast<std::chrono::seconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(config_.daemon.metrics_listen, 2);
  } catch (const std::exception& e) {
    return Error{fmt::format("cannot serve metrics on metrics_listen = \"{}\": {}",
                             config_.daemon.metrics_listen, e.what())};
  }
  exposer_->RegisterCollectable(collector_);

  auto datapath = BpfDatapath::create(
      BpfDatapathOptions{config_.daemon.bpf_pin_dir, config_.network.interfaces,
                         config_.daemon.max_experiments, config_.network.enforcement});
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
  controller_ = std::make_unique<Controller>(std::move(ctx));
  auto control = ControlServer::create(
      io_, config_.daemon.control_socket, config_.daemon.control_group,
      [this](const Request& r, const Peer& p) { return controller_->handle(r, p); });
  if (!control) return control.error();
  control_ = std::move(*control);

  std::string uplinks;
  for (const auto& i : config_.network.interfaces) uplinks += (uplinks.empty() ? "" : ", ") + i;
  log_info("enforcerd {} enforcing {} experiment(s) on {}; metrics at http://{}/metrics", kVersion,
           config_.experiments.size(), uplinks, config_.daemon.metrics_listen);
  return {};
}

Expected<void> Daemon::add_experiments() {
  boot_id_ = read_boot_id();
  const std::string path = snapshot_path(config_);
  auto loaded = load_window_snapshot(path, std::chrono::system_clock::now());
  if (loaded.warning) log_warning("{}", *loaded.warning);
  const WindowSnapshot* snap = loaded.snapshot ? &*loaded.snapshot : nullptr;
  const std::uint64_t elapsed =
      snap ? ticks_since(*snap, ns_since_epoch(std::chrono::system_clock::now()),
                         ns_since_epoch(std::chrono::steady_clock::now()), boot_id_)
           : 0;
  if (datapath_->adopted() && !snap) {
    log_warning(
        "no window snapshot in {}: the adopted counters cannot be told apart by experiment, so "
        "every experiment starts with zeroed counters and an empty window",
        config_.daemon.state_dir);
  }

  // Ids: each experiment the snapshot knows keeps the id it had (a reload may have moved it away
  // from its position), so that adopted counters stay its own; the others take free ids.
  if (snap) {
    std::map<std::string, std::uint32_t> keep;
    for (const auto& e : snap->experiments) keep[e.name] = e.id;
    for (const auto& e : assign_ids(config_.experiments, keep, config_.daemon.max_experiments)) {
      return Error{e};
    }
  }
  ExperimentList list;
  for (const auto& x : config_.experiments) {
    const std::uint32_t id = x.id;
    const auto slots = static_cast<std::uint32_t>(x.allocation.window / config_.daemon.tick);
    // An adopted id keeps its counters only while it is still the same experiment's (the
    // snapshot's id -> name table says so).
    RestoredExperiment restored;
    if (snap) restored = match_experiment(*snap, x.name, config_.daemon.tick, slots);
    const bool keep = datapath_->adopted() && restored.from && restored.from->id == id;
    auto r = keep ? datapath_->keep_experiment(id, x.addresses)
                  : datapath_->add_experiment(id, x.addresses);
    if (!r) return Error{fmt::format("experiment \"{}\": {}", x.name, r.error().message)};
    auto state = std::make_shared<ExperimentState>(id, x, slots);
    if (restored.from) {
      const ExperimentSnapshot& from = *restored.from;
      constexpr auto kRelaxed = std::memory_order_relaxed;
      for (Direction d : kDirections) {
        DirectionState& s = *state->direction[d];
        const DirectionSnapshot& f = from.direction[d];
        s.bytes_total.store(f.bytes_total, kRelaxed);
        s.packets_total.store(f.packets_total, kRelaxed);
        s.dropped_bytes_total.store(f.dropped_bytes_total, kRelaxed);
        s.dropped_packets_total.store(f.dropped_packets_total, kRelaxed);
        if (restored.windows) {
          const ShiftedWindow w = shift_window(f, slots, elapsed);
          s.window.restore(kFirstTick, w.newest_first, w.filled);
        }
      }
      // Kept counters: the first sample's delta is what moved since the snapshot (the traffic
      // of the restart included) and lands in the newest slot. Fresh or zeroed counters start
      // from 0, so does their baseline.
      if (keep) state->last_raw = from.raw;
      log_info("experiment {}: resumed from {} ({} ticks old): totals{}{}{}", x.name, path, elapsed,
               restored.windows ? " and window" : "", keep ? ", datapath counters kept" : "",
               restored.note.empty() ? "" : fmt::format(" ({})", restored.note));
    } else if (snap || datapath_->adopted()) {
      log_info("experiment {}: starts with an empty window ({})", x.name,
               snap ? restored.note : "no snapshot");
    }
    list.push_back(std::move(state));
  }
  if (datapath_->adopted()) {
    if (const std::size_t n = datapath_->prune_addresses(); n > 0) {
      log_info("removed {} address(es) of experiments no longer configured", n);
    }
  }
  table_.publish(std::move(list));
  return {};
}

void Daemon::write_snapshot() {
  WindowSnapshot s;
  s.tick_ns = config_.daemon.tick.count();
  s.wall_ns = ns_since_epoch(std::chrono::system_clock::now());
  s.monotonic_ns = ns_since_epoch(std::chrono::steady_clock::now());
  s.boot_id = boot_id_;
  constexpr auto kRelaxed = std::memory_order_relaxed;
  for (const auto& x : *table_.snapshot()) {
    ExperimentSnapshot e;
    e.name = x->name;
    e.id = x->id;
    e.window_slots = x->direction[0]->window.slots();
    e.raw = x->last_raw;
    for (Direction d : kDirections) {
      const DirectionState& ds = *x->direction[d];
      DirectionSnapshot& out = e.direction[d];
      out.slots = ds.window.newest_first();
      out.filled = ds.window.snapshot().filled;
      out.bytes_total = ds.bytes_total.load(kRelaxed);
      out.packets_total = ds.packets_total.load(kRelaxed);
      out.dropped_bytes_total = ds.dropped_bytes_total.load(kRelaxed);
      out.dropped_packets_total = ds.dropped_packets_total.load(kRelaxed);
    }
    s.experiments.push_back(std::move(e));
  }
  const auto r = write_file_atomic(snapshot_path(config_), serialize_window_snapshot(s));
  if (!r || r->not_durable) {
    // Once a minute at most: the tick writes it every second.
    if (snapshot_errors_++ % 60 != 0) return;
    if (!r) {
      log_error("cannot write the window snapshot: {}", r.error().message);
    } else {
      log_warning("window snapshot: {}", *r->not_durable);
    }
  }
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
      log_info("received SIGHUP, reloading {}", config_path_);
      notifier_.reloading();
      if (auto n = reload(); !n) {
        log_error("the configuration was not reloaded; still enforcing the previous one:");
        log_lines(LogLevel::kError, n.error().message);  // one error a line
      } else {
        controller_->apply_all();
        log_info("configuration reloaded: {} experiment(s)", *n);
      }
      notifier_.ready(fmt::format("enforcing {} experiment(s)", config_.experiments.size()));
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

Expected<std::size_t> Daemon::reload() {
  ConfigResult loaded = load_config(config_path_);
  std::vector<ConfigError> errors = std::move(loaded.errors);
  if (loaded.config) {
    auto more = resolve_devices(*loaded.config, config_path_);
    errors.insert(errors.end(), more.begin(), more.end());
  }
  if (!errors.empty()) {
    std::string text;
    for (const auto& e : errors) text += (text.empty() ? "" : "\n") + e.to_string();
    status_.last_reload_ok.store(false);
    return Error{text};
  }
  Config& next = *loaded.config;
  ReloadPlan plan = plan_reload(config_, next);
  if (!plan.errors.empty()) {
    std::string text;
    for (const auto& e : plan.errors) text += (text.empty() ? "" : "\n") + e;
    status_.last_reload_ok.store(false);
    return Error{text};
  }
  if (auto r = apply_experiment_changes(plan, next); !r) {
    status_.last_reload_ok.store(false);
    return r.error();
  }
  config_ = std::move(next);
  status_.last_reload_ok.store(true);
  status_.last_reload_success_unix.store(std::chrono::duration_cast<std::chrono::seconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  return config_.experiments.size();
}

Expected<void> Daemon::apply_experiment_changes(const ReloadPlan& plan, const Config& next) {
  if (plan.added.empty() && plan.removed.empty() && plan.readdressed.empty()) return {};
  using Key = std::pair<bool, std::array<std::uint8_t, 17>>;  // v6, bytes + length
  auto key = [](const Prefix& p) {
    Key k{p.v6, {}};
    std::copy(p.bytes.begin(), p.bytes.end(), k.second.begin());
    k.second[16] = p.length;
    return k;
  };
  std::set<Key> old_keys, new_keys;
  for (const auto& x : config_.experiments) {
    for (const auto& p : x.addresses) old_keys.insert(key(p));
  }
  for (const auto& x : next.experiments) {
    for (const auto& p : x.addresses) new_keys.insert(key(p));
  }
  auto select = [&](const std::vector<Prefix>& from, const std::set<Key>& not_in) {
    std::vector<Prefix> out;
    for (const auto& p : from) {
      if (!not_in.count(key(p))) out.push_back(p);
    }
    return out;
  };
  std::set<std::uint32_t> old_ids;
  for (const auto& x : config_.experiments) old_ids.insert(x.id);

  // 1. Addresses no experiment has any more stop being attributed (those of removed
  // experiments, and those kept experiments dropped). Addresses that move to another
  // experiment are simply overwritten below (never unattributed in between).
  std::vector<Prefix> stale;
  for (const auto& x : config_.experiments) {
    for (const auto& p : select(x.addresses, new_keys)) stale.push_back(p);
  }
  // What an undo has to restore: the running experiments' addresses, as they were.
  std::vector<std::size_t> added_done;
  auto undo = [&](const std::string& what) -> Error {
    std::vector<std::string> problems;
    for (std::size_t n : added_done) {
      const ExperimentConfig& x = next.experiments[n];
      if (old_ids.count(x.id)) {
        // (Only when max_experiments left no other id:) the id was a removed experiment's,
        // which runs on: its counters were zeroed, the limiter pushes its limit again and the
        // sampler starts from 0.
        if (auto r = datapath_->remove_addresses(select(x.addresses, old_keys)); !r) {
          problems.push_back(r.error().message);
        }
        for (const auto& st : *table_.snapshot()) {
          if (st->id != x.id) continue;
          st->last_raw = CounterSample{};
          st->limit_pushed = false;
        }
        continue;
      }
      if (auto r = datapath_->remove_experiment(x.id, select(x.addresses, old_keys)); !r) {
        problems.push_back(r.error().message);
      }
    }
    for (const auto& x : next.experiments) {
      if (auto r = datapath_->remove_addresses(select(x.addresses, old_keys)); !r) {
        problems.push_back(r.error().message);
      }
    }
    for (const auto& x : config_.experiments) {
      if (auto r = datapath_->keep_experiment(x.id, x.addresses); !r) {
        problems.push_back(fmt::format("experiment \"{}\": {}", x.name, r.error().message));
      }
    }
    if (problems.empty()) {
      return Error{fmt::format(
          "{}; the reload was undone ({} experiment(s) it had added removed again, every address "
          "as before): still enforcing the previous configuration",
          what, added_done.size())};
    }
    std::string all;
    for (const auto& p : problems) all += "\n  " + p;
    return Error{fmt::format(
        "{}; undoing the reload failed in part, the previous configuration's experiments are "
        "enforced but these datapath entries may be off:{}",
        what, all)};
  };
  if (auto r = datapath_->remove_addresses(stale); !r) return undo(r.error().message);

  // 2. New experiments: zeroed counters and rate state, their addresses.
  for (std::size_t n : plan.added) {
    const ExperimentConfig& x = next.experiments[n];
    added_done.push_back(n);  // an undo also clears what a failed add wrote
    if (auto r = datapath_->add_experiment(x.id, x.addresses); !r) {
      return undo(fmt::format("experiment \"{}\" (id {}): {}", x.name, x.id, r.error().message));
    }
  }
  // 3. Kept experiments' new addresses (counters, limit and rate state stay).
  for (std::size_t n : plan.readdressed) {
    const ExperimentConfig& x = next.experiments[n];
    if (auto r = datapath_->keep_experiment(x.id, x.addresses); !r) {
      return undo(fmt::format("experiment \"{}\": {}", x.name, r.error().message));
    }
  }

  // Done in the datapath: from here on nothing is undone. The table: kept experiments keep their
  // state (window, totals, counters' baseline, limit), new ones start empty from zeroed counters.
  std::map<std::string, std::shared_ptr<ExperimentState>> states;
  for (const auto& st : *table_.snapshot()) states[st->name] = st;
  ExperimentList list;
  std::set<std::size_t> added(plan.added.begin(), plan.added.end());
  for (std::size_t n = 0; n < next.experiments.size(); ++n) {
    const ExperimentConfig& x = next.experiments[n];
    if (!added.count(n)) {
      list.push_back(states.at(x.name));
      continue;
    }
    const auto slots = static_cast<std::uint32_t>(x.allocation.window / config_.daemon.tick);
    list.push_back(std::make_shared<ExperimentState>(x.id, x, slots));
  }
  table_.publish(std::move(list));
  // 4. Removed experiments: their cgroup programs detached, counters and rate state zeroed (so an
  // id used again starts from 0). Their addresses went in step 1.
  std::set<std::uint32_t> reused;
  for (std::size_t n : plan.added) reused.insert(next.experiments[n].id);
  if (cgroups_) cgroups_->set_experiments(next);
  std::string removed_names;
  for (std::size_t r : plan.removed) {
    const ExperimentConfig& x = config_.experiments[r];
    removed_names += fmt::format("{}{}", removed_names.empty() ? "" : ", ", x.name);
    controller_->forget(x.id);
    if (reused.count(x.id)) {
      datapath_->detach_cgroups(x.id);
      continue;  // zeroed when it was added again
    }
    if (auto e = datapath_->remove_experiment(x.id, {}); !e) {
      log_error("experiment {} (removed): {}", x.name, e.error().message);
    }
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
  // A clean stop: the next start resumes the windows from here (the datapath is removed, so the
  // traffic while no daemon runs is neither limited nor counted).
  write_snapshot();
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
    // The datapath keeps the previous limits; every limit is pushed again next tick.
    if (limit_errors_++ % 60 == 0) log_error("setting rate limits: {}", l.error().message);
  }
  // The pods: limits for new ones, drift restored, usage read.
  if (cgroups_) {
    if (next_tick_ % CgroupEnforcer::kFullRescanTicks == 0 &&
        (!watcher_ || watcher_->root_gone())) {
      watch_cgroups();
    }
    cgroups_->tick(cgroups_changed_);
    cgroups_changed_ = false;
  }
  // The uplinks: a changed root qdisc swaps the egress program; removed filters come back.
  if (auto r = datapath_->refresh(); !r) {
    if (refresh_errors_++ % 60 == 0) log_error("checking the uplinks: {}", r.error().message);
  }
  if (tick >= next_snapshot_tick_) {
    write_snapshot();
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
