#include "bandwidth/snapshot_writer.hpp"

#include <malloc.h>

#include <memory>
#include <utility>

#include "base/log.hpp"
#include "base/state_file.hpp"

namespace enforcer {

WindowSnapshot capture_window_snapshot(const ExperimentList& experiments,
                                       const SnapshotClocks& clocks) {
  WindowSnapshot s;
  s.tick_ns = clocks.tick_ns;
  s.wall_ns = clocks.wall_ns;
  s.monotonic_ns = clocks.monotonic_ns;
  s.boot_id = clocks.boot_id;
  s.experiments.reserve(experiments.size());
  constexpr auto kRelaxed = std::memory_order_relaxed;
  for (const auto& x : experiments) {
    ExperimentSnapshot& e = s.experiments.emplace_back();
    e.name = x->name;
    e.id = x->id;
    e.window_slots = x->direction[0].window.slots();
    e.raw = x->last_raw;
    for (Direction d : kDirections) {
      const DirectionState& ds = x->direction[d];
      DirectionSnapshot& out = e.direction[d];
      out.slots = ds.window.newest_first();
      out.filled = ds.window.snapshot().filled;
      out.bytes_total = ds.bytes_total.load(kRelaxed);
      out.packets_total = ds.packets_total.load(kRelaxed);
      out.dropped_bytes_total = ds.dropped_bytes_total.load(kRelaxed);
      out.dropped_packets_total = ds.dropped_packets_total.load(kRelaxed);
    }
  }
  return s;
}

void SnapshotWriter::submit(WindowSnapshot snapshot) {
  // std::function wants a copyable job: the snapshot goes in by pointer, never copied.
  auto owned = std::make_shared<WindowSnapshot>(std::move(snapshot));
  worker_.submit([this, owned = std::move(owned)]() mutable {
    write(*owned);
    owned.reset();
    // The copies of every ring and their JSON are the daemon's largest allocations (at 10,000
    // experiments well over 100 MB for a moment). Freed, they stay in the heap unless returned:
    // without this the daemon's RSS stays at that peak.
    malloc_trim(0);
  });
}

SnapshotWriter::Stats SnapshotWriter::stats() const {
  const std::lock_guard lock(mutex_);
  Stats s = stats_;
  s.replaced = worker_.replaced();
  return s;
}

void SnapshotWriter::write(const WindowSnapshot& snapshot) {
  const auto start = std::chrono::steady_clock::now();
  const auto r = write_file_atomic(path_, serialize_window_snapshot(snapshot));
  const auto took = std::chrono::steady_clock::now() - start;
  std::uint64_t problems = 0;
  {
    const std::lock_guard lock(mutex_);
    stats_.last_duration = took;
    if (r) {
      ++stats_.written;
    } else {
      ++stats_.failed;
    }
    if (!r || r->not_durable) problems = ++problems_;
  }
  // The first problem and every 60th after it: a full disk fails every snapshot, a few seconds
  // apart.
  if (problems % 60 != 1) return;
  if (!r) {
    log_error("cannot write the window snapshot: {}", r.error().message);
  } else {
    log_warning("window snapshot: {}", *r->not_durable);
  }
}

}  // namespace enforcer
