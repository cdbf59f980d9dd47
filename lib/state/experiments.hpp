// Runtime state of the experiments the daemon tracks, shared between the sampler (the only
// writer) and readers on other threads (metrics scrapes). The set of experiments is published as
// an immutable snapshot behind a shared_ptr: a reader copies the pointer (a mutex held for one
// reference-count increment, never while the set is read) and an experiment removed meanwhile
// stays alive until the reader is done. (Not std::atomic<std::shared_ptr>: libstdc++ 12 guards it
// with a lock bit in the pointer word that ThreadSanitizer cannot see, so every publish looked like
// a race; a plain mutex costs the same here and the sanitizer checks it.)
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "datapath/datapath.hpp"
#include "state/window_ring.hpp"

namespace enforcer {

struct DirectionState {
  explicit DirectionState(std::uint32_t slots) : window(slots) {}
  DirectionState(std::uint32_t slots, const WindowRing& from) : window(slots, from) {}
  WindowRing window;
  std::atomic<std::uint64_t> bytes_total{0};
  std::atomic<std::uint64_t> packets_total{0};
  std::atomic<std::uint64_t> dropped_bytes_total{0};
  std::atomic<std::uint64_t> dropped_packets_total{0};

  // The policy's latest decision (written by the limiter each tick, read by scrapes).
  std::atomic<std::uint64_t> limit_bytes_per_second{0};
  std::atomic<std::uint64_t> allowance_bytes{0};
  std::atomic<bool> throttled{false};
  std::atomic<std::uint64_t> throttle_events{0};  // unthrottled -> throttled transitions
};

// An experiment's cgroup and quota figures: written by the daemon's cgroup pass, read by scrapes.
// Shared (not copied) by the copies resize_windows() makes.
struct ResourceState {
  std::atomic<std::uint32_t> containers{0};  // pod cgroups found for the experiment (0 or 1)
  // The config's `optional`: no pod is an ordinary state (set at creation and at every reload).
  std::atomic<bool> optional{false};
  // Pod cgroups that match the experiment but do not get its limits (discovery.hpp, match()).
  std::atomic<std::uint32_t> pod_conflicts{0};
  std::atomic<bool> cgroup_known{false};  // the cgroup figures below have been read
  std::atomic<std::uint64_t> cpu_usage_usec{0};
  std::atomic<std::uint64_t> cpu_throttled_usec{0};
  std::atomic<std::uint64_t> cpu_cores_milli{0};  // CPU use between the last two reads, 1/1000 core
  std::atomic<std::uint64_t> memory_bytes{0};
  std::atomic<std::uint64_t> memory_limit_bytes{0};
  std::atomic<std::uint64_t> oom_kills{0};
  std::atomic<std::uint64_t> io_read_bytes{0};
  std::atomic<std::uint64_t> io_write_bytes{0};
  std::atomic<bool> disk_known{false};  // the quota figures below have been read
  std::atomic<std::uint64_t> disk_used_bytes{0};
  std::atomic<std::uint64_t> disk_limit_bytes{0};
};

// The bandwidth policy's limits as the controller last applied them (daemon/controller.cpp,
// apply(): the configured allocation with the operator's overrides, and the pinned rate); the
// limiter and resize_windows() take them at the next tick. 0 in bandwidth, min_rate or window
// means "not applied yet", and the configured allocation holds (effective_limits()); 0 in pinned
// means no pinned rate.
struct AppliedLimits {
  std::atomic<std::uint64_t> bandwidth_bits{0};
  std::atomic<std::uint64_t> min_rate_bits{0};
  std::atomic<std::uint64_t> pinned_bits{0};  // a manual throttle: the rate, whatever the budget
  std::atomic<std::int64_t> window_ns{0};     // W; resize_windows() gives the rings its length
};

struct ExperimentState {
  ExperimentState(std::uint32_t id, const ExperimentConfig& config, std::uint32_t window_slots);
  // A copy of `from` (totals, decisions, applied limits, counters' baselines) whose window rings
  // have `window_slots` slots and keep `from`'s newest ticks. Writer thread only.
  ExperimentState(const ExperimentState& from, std::uint32_t window_slots);

  const std::uint32_t id;
  const std::string name;
  const std::vector<Prefix> addresses;
  const Allocation allocation;
  // Inline, not behind pointers: the sampler visits every experiment's two directions each tick,
  // and each pointer followed was one more cache miss per experiment.
  std::array<DirectionState, 2> direction;
  AppliedLimits applied;
  std::shared_ptr<ResourceState> resources = std::make_shared<ResourceState>();

  // Sampler-only: the datapath's cumulative counters at the previous tick.
  CounterSample last_raw;
  // Limiter-only: what the datapath was last told.
  RateLimit last_limit;
  bool limit_pushed = false;
};

using ExperimentList = std::vector<std::shared_ptr<ExperimentState>>;

class ExperimentTable;
// Gives every experiment whose window (effective_limits()) no longer matches its rings' length
// new rings of the right length, by publishing a new set in which it is replaced by a copy
// (readers holding the old set keep the old state until they let go). Returns how many were
// resized. Writer thread only (the daemon's loop, before sampling).
std::size_t resize_windows(ExperimentTable& table, std::chrono::nanoseconds tick);
// The limits an experiment is held to now: what the controller applied, else the configured
// allocation (min_rate then a share of the bandwidth in force, not of the configured one).
struct EffectiveLimits {
  std::uint64_t bandwidth_bits = 0;
  std::uint64_t min_rate_bits = 0;
  std::chrono::nanoseconds window{0};
  std::uint64_t pinned_bits = 0;  // 0: none
};
EffectiveLimits effective_limits(const ExperimentState& x);

// The window length in ticks an experiment should have now.
std::uint32_t window_slots(const ExperimentState& x, std::chrono::nanoseconds tick);

class ExperimentTable {
 public:
  ExperimentTable() : current_(std::make_shared<const ExperimentList>()) {}

  std::shared_ptr<const ExperimentList> snapshot() const {
    const std::lock_guard lock(mutex_);
    return current_;
  }
  void publish(ExperimentList list) {
    auto next = std::make_shared<const ExperimentList>(std::move(list));
    const std::lock_guard lock(mutex_);
    current_.swap(next);  // the old set is released after the lock, by `next`
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const ExperimentList> current_;
};

// Sets each experiment's resources->optional from `config` (a reload may change only that).
void set_optional_flags(const ExperimentTable& table, const Config& config);

// Node-wide counters of the cgroup pass.
struct CgroupTotals {
  std::atomic<std::uint64_t> drift_corrections{0};  // limits found rewritten and restored
};

// An override that holds its experiment's resource now (lib/control/overrides.hpp), for the
// metrics: source "config" or "cli"; expires: Unix seconds, 0: until cleared.
struct OverrideInForce {
  std::string experiment;
  std::string resource;
  std::string source;
  std::int64_t expires_unix = 0;
};

// The daemon's own state, for the metrics (written by its loop, read by scrapes).
struct DaemonStatus {
  // The overrides in force, replaced whole by the controller after each change.
  void set_overrides(std::vector<OverrideInForce> list) {
    const std::lock_guard lock(overrides_mutex_);
    overrides_.swap(list);
  }
  std::vector<OverrideInForce> overrides() const {
    const std::lock_guard lock(overrides_mutex_);
    return overrides_;
  }

  std::atomic<bool> last_reload_ok{true};  // the last reload (or the start) succeeded
  std::atomic<std::int64_t> last_reload_success_unix{0};  // when the config last took effect
  std::atomic<std::uint64_t> reloads_ok{0};      // reloads that took effect (signal, CLI, files)
  std::atomic<std::uint64_t> reloads_failed{0};  // reloads rejected

 private:
  mutable std::mutex overrides_mutex_;
  std::vector<OverrideInForce> overrides_;
};

// Totals of traffic that no experiment owns (id 0), per direction.
struct UnattributedTotals {
  std::array<std::atomic<std::uint64_t>, 2> bytes{};
  std::array<std::atomic<std::uint64_t>, 2> packets{};
  CounterSample last_raw;  // sampler-only
};

}  // namespace enforcer
