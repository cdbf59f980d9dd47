// The window snapshot, written off the daemon's loop. The loop captures the windows (a copy, on
// the sampler's thread, the one thread that may read a ring whole) and hands the copy over; a
// thread of its own turns it into JSON and replaces the file, fsync included. A slow or full disk
// then delays the snapshot, never a tick: a tick held up for seconds would let the datapath's
// limits lapse to their fallbacks (enforcer_abi.h, limits_valid_until_ns), and serializing
// 10,000 experiments' windows takes longer than a tick.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>

#include "bandwidth/window_snapshot.hpp"
#include "base/worker_thread.hpp"
#include "state/experiments.hpp"

namespace enforcer {

// The clocks a snapshot is taken at (WindowSnapshot says what each is for).
struct SnapshotClocks {
  std::int64_t tick_ns = 0;
  std::int64_t wall_ns = 0;
  std::int64_t monotonic_ns = 0;
  std::string boot_id;
};

// Every experiment's windows, totals and raw counters as the sampler left them. Sampler's thread
// only (WindowRing::newest_first, ExperimentState::last_raw).
WindowSnapshot capture_window_snapshot(const ExperimentList& experiments,
                                       const SnapshotClocks& clocks);

class SnapshotWriter {
 public:
  explicit SnapshotWriter(std::string path) : path_(std::move(path)) {}

  // True while the thread has nothing to do: the loop captures a new snapshot only then, so at
  // most one copy of the windows waits beside the one being written.
  bool idle() const { return worker_.idle(); }
  // Hands `snapshot` to the thread. One still waiting (not yet begun) is replaced: the new one
  // holds everything it did, later.
  void submit(WindowSnapshot snapshot);
  // Returns once everything submitted is written (or failed): a clean stop's last snapshot
  // lands after, never under, an older one.
  void flush() { worker_.flush(); }

  struct Stats {
    std::uint64_t written = 0;   // files replaced
    std::uint64_t failed = 0;    // writes that left the old file (logged, sparingly)
    std::uint64_t replaced = 0;  // snapshots replaced by a newer one before being written
    std::chrono::nanoseconds last_duration{0};  // the latest write, JSON included
  };
  Stats stats() const;

 private:
  void write(const WindowSnapshot& snapshot);

  const std::string path_;
  mutable std::mutex mutex_;  // stats_ and problems_: written by the thread, read by anyone
  Stats stats_;
  std::uint64_t problems_ = 0;  // failed or not durable: what the log reports, sparingly
  WorkerThread worker_;         // last: its thread stops (writing what waits) before the rest
};

}  // namespace enforcer
