// A sliding window of per-tick byte counts: one writer (the sampler), any number of readers
// (metrics scrapes, the control socket) on other threads, no locks.
//
// The writer publishes under a sequence counter (a seqlock): it makes the counter odd, updates
// the slots and the running sum, then makes it even again. A reader copies what it needs and
// retries when the counter was odd or changed meanwhile, so it only ever returns a window the
// writer had finished. Readers never block the writer; every shared word is a std::atomic, so
// there is no data race in the C++ sense even while a reader retries.
//
// Time is the absolute tick index (elapsed time / tick), not the number of record() calls: when
// ticks are missed, the skipped slots hold zero and the bytes measured over the gap go into the
// newest slot. That keeps them in the window for the longest time, so the budget is never
// under-counted.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace enforcer {

class WindowRing {
 public:
  struct Snapshot {
    std::uint64_t sum = 0;     // bytes in the window (all slots)
    std::uint64_t oldest = 0;  // bytes in the slot that leaves the window at the next tick
    std::uint64_t newest = 0;  // bytes in the latest tick
    std::uint64_t filled = 0;  // ticks of the window covered since the first record (<= slots)
    std::uint64_t tick = 0;    // tick index of the newest slot
    bool empty = true;         // nothing recorded yet
  };

  explicit WindowRing(std::uint32_t slots);
  // A ring of `slots` holding the newest min(slots, from.slots()) ticks of `from` (a window
  // override that changes W). Call on `from`'s writer thread. Growing cannot recover ticks
  // `from` no longer holds: they count as zero, as before the first record.
  WindowRing(std::uint32_t slots, const WindowRing& from);
  WindowRing(const WindowRing&) = delete;
  WindowRing& operator=(const WindowRing&) = delete;

  std::uint32_t slots() const { return slots_; }

  // Writer only. Adds `bytes` measured up to tick index `tick`. A tick index at or before the
  // newest one (a clock that did not advance) adds to the newest slot.
  void record(std::uint64_t tick, std::uint64_t bytes);
  // Writer only. Forgets everything (an experiment removed and added back).
  void reset();
  // Writer only. Replaces the contents with `newest_first` (slot bytes, the newest at tick index
  // `head`, then one tick older each; at most slots() are used) covering `filled` ticks: a window
  // restored from the snapshot a previous daemon wrote (window_snapshot.hpp). Nothing given
  // (an empty vector and filled 0) leaves the ring empty.
  void restore(std::uint64_t head, const std::vector<std::uint64_t>& newest_first,
               std::uint64_t filled);
  // Writer only. The slots' bytes, the newest first (filled() of them; none while empty).
  std::vector<std::uint64_t> newest_first() const;

  // Writer only. Asks the CPU to fetch the slot the next tick's record() writes: the sampler
  // calls it a few experiments ahead, so that the cache misses of many rings overlap.
  void prefetch_next_slot() const {
    __builtin_prefetch(&slot_[head_pos_ + 1 == slots_ ? 0 : head_pos_ + 1], 1);
  }

  // Any thread.
  Snapshot snapshot() const;

 private:
  std::atomic<std::uint64_t>& slot(std::uint64_t tick) { return slot_[tick % slots_]; }
  // The slot after `pos`, wrapping: the writer walks the ring without a division.
  std::uint32_t next(std::uint32_t pos) const { return pos + 1 == slots_ ? 0 : pos + 1; }
  void begin_write();
  void end_write();

  const std::uint32_t slots_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> slot_;
  std::atomic<std::uint64_t> seq_{0};
  std::atomic<std::uint64_t> sum_{0};
  std::atomic<std::uint64_t> filled_{0};
  std::atomic<std::uint64_t> head_{0};  // tick index of the newest slot
  std::atomic<bool> empty_{true};
  std::uint32_t head_pos_ = 0;  // writer only: head_ % slots_
};

}  // namespace enforcer
