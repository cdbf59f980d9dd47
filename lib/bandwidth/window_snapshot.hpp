// The window snapshot: what a restarted daemon needs to go on with each experiment's sliding
// window and totals instead of starting from nothing (which would hand every experiment a whole
// new budget B). The daemon writes state_dir/windows.snapshot atomically every few ticks and at a
// clean stop; at start it restores each configured experiment's rings shifted by the time that
// passed, and its totals. The traffic of the gap (since the snapshot's tick) is what the adopted
// datapath counters (bpf_datapath.hpp) moved beyond the snapshot's raw values: the sampler's
// first delta, which lands in the newest slot, so the budget counts it and nothing is counted
// twice (the slots the previous daemon filled after the snapshot are not in it).
//
// Pure logic only (serialize, parse, shift); the daemon does the file and the clocks.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.hpp"
#include "datapath/datapath.hpp"

namespace enforcer {

inline constexpr int kWindowSnapshotVersion = 1;

struct DirectionSnapshot {
  std::vector<std::uint64_t> slots;  // bytes per tick, the newest (the snapshot's tick) first
  std::uint64_t filled = 0;          // ticks the window covered (WindowRing::Snapshot::filled)
  std::uint64_t bytes_total = 0;
  std::uint64_t packets_total = 0;
  std::uint64_t dropped_bytes_total = 0;
  std::uint64_t dropped_packets_total = 0;
  bool operator==(const DirectionSnapshot&) const = default;
};

struct ExperimentSnapshot {
  std::string name;
  std::uint32_t id = 0;            // its datapath id (position in the config) at the time
  std::uint32_t window_slots = 0;  // the rings' length
  std::array<DirectionSnapshot, 2> direction{};
  // The datapath's cumulative counters (summed over CPUs) the totals and slots above include.
  CounterSample raw;
};

struct WindowSnapshot {
  int version = kWindowSnapshotVersion;
  std::int64_t tick_ns = 0;
  std::int64_t wall_ns = 0;       // system_clock at the snapshot's tick (Unix epoch)
  std::int64_t monotonic_ns = 0;  // steady_clock (CLOCK_MONOTONIC) at the same moment
  std::string boot_id;            // /proc/sys/kernel/random/boot_id: monotonic time is per boot
  std::vector<ExperimentSnapshot> experiments;

  const ExperimentSnapshot* find(std::string_view name) const;
};

// JSON text ({"version": 1, "tick_ns": ..., "experiments": [...]}).
std::string serialize_window_snapshot(const WindowSnapshot& snapshot);
// The inverse; the error says what is wrong (truncated, not JSON, a field missing or mistyped).
Expected<WindowSnapshot> parse_window_snapshot(std::string_view text);

// Whole ticks between the snapshot and now: by the monotonic clock when the snapshot was taken
// in this boot (a wall clock step does not move it), by the wall clock otherwise; never negative.
std::uint64_t ticks_since(const WindowSnapshot& snapshot, std::int64_t now_wall_ns,
                          std::int64_t now_monotonic_ns, std::string_view now_boot_id);

// A direction's window moved `elapsed_ticks` forward to a ring of `slots`: the newest slot is
// now's (zero: the sampler adds the gap's bytes there), the ticks missed are zeros, slots older
// than the window are gone. Bytes are newest first; `filled` as in WindowRing.
struct ShiftedWindow {
  std::vector<std::uint64_t> newest_first;
  std::uint64_t filled = 0;
  bool operator==(const ShiftedWindow&) const = default;
};
ShiftedWindow shift_window(const DirectionSnapshot& d, std::uint32_t slots,
                           std::uint64_t elapsed_ticks);

// What the daemon restores for one configured experiment, or why not (a log line).
struct RestoredExperiment {
  const ExperimentSnapshot* from = nullptr;  // null: nothing to restore
  bool windows = false;                      // the rings too (same tick and window length)
  std::string note;                          // why the windows (or everything) start empty
};
RestoredExperiment match_experiment(const WindowSnapshot& snapshot, std::string_view name,
                                    std::chrono::nanoseconds tick, std::uint32_t window_slots);

// Reads `path`: a missing file is no snapshot (and no warning); a torn, corrupt or unreadable one
// is moved aside (<path>.bad-<unix seconds>) and reported in `warning`.
struct LoadedWindowSnapshot {
  std::optional<WindowSnapshot> snapshot;
  std::optional<std::string> warning;
};
LoadedWindowSnapshot load_window_snapshot(const std::string& path,
                                          std::chrono::system_clock::time_point now);

}  // namespace enforcer
