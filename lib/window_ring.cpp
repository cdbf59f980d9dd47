#include "window_ring.hpp"

#include <stdexcept>

namespace enforcer {

namespace {
constexpr auto kRelaxed = std::memory_order_relaxed;
}

WindowRing::WindowRing(std::uint32_t slots)
    : slots_(slots), slot_(std::make_unique<std::atomic<std::uint64_t>[]>(slots)) {
  if (slots < 2) throw std::invalid_argument("WindowRing needs at least two slots");
  for (std::uint32_t i = 0; i < slots_; ++i) slot_[i].store(0, kRelaxed);
}

// Seqlock write side (Boehm, "Can seqlocks get along with programming language memory models?",
// 2012): the release fence orders the odd counter before the data stores, the release store
// orders the data before the even counter.
void WindowRing::begin_write() {
  seq_.store(seq_.load(kRelaxed) + 1, kRelaxed);
  std::atomic_thread_fence(std::memory_order_release);
}

void WindowRing::end_write() {
  seq_.store(seq_.load(kRelaxed) + 1, std::memory_order_release);
}

void WindowRing::record(std::uint64_t tick, std::uint64_t bytes) {
  begin_write();
  if (empty_.load(kRelaxed)) {
    for (std::uint32_t i = 0; i < slots_; ++i) slot_[i].store(0, kRelaxed);
    slot(tick).store(bytes, kRelaxed);
    sum_.store(bytes, kRelaxed);
    filled_.store(1, kRelaxed);
    head_.store(tick, kRelaxed);
    empty_.store(false, kRelaxed);
    end_write();
    return;
  }
  const std::uint64_t head = head_.load(kRelaxed);
  std::uint64_t sum = sum_.load(kRelaxed);
  if (tick <= head) {
    slot(head).store(slot(head).load(kRelaxed) + bytes, kRelaxed);
    sum_.store(sum + bytes, kRelaxed);
    end_write();
    return;
  }
  const std::uint64_t gap = tick - head;
  if (gap >= slots_) {
    // The whole window passed: every slot is older than the window.
    for (std::uint32_t i = 0; i < slots_; ++i) slot_[i].store(0, kRelaxed);
    sum = 0;
  } else {
    // Evict the slots that left the window: the skipped ticks and the one `tick` reuses.
    for (std::uint64_t t = head + 1; t <= tick; ++t) {
      sum -= slot(t).load(kRelaxed);
      slot(t).store(0, kRelaxed);
    }
  }
  slot(tick).store(bytes, kRelaxed);
  sum_.store(sum + bytes, kRelaxed);
  const std::uint64_t filled = filled_.load(kRelaxed) + gap;
  filled_.store(filled < slots_ ? filled : slots_, kRelaxed);
  head_.store(tick, kRelaxed);
  end_write();
}

void WindowRing::reset() {
  begin_write();
  for (std::uint32_t i = 0; i < slots_; ++i) slot_[i].store(0, kRelaxed);
  sum_.store(0, kRelaxed);
  filled_.store(0, kRelaxed);
  head_.store(0, kRelaxed);
  empty_.store(true, kRelaxed);
  end_write();
}

WindowRing::Snapshot WindowRing::snapshot() const {
  for (;;) {
    const std::uint64_t seq = seq_.load(std::memory_order_acquire);
    if (seq & 1) continue;  // a write is in progress
    Snapshot s;
    s.empty = empty_.load(kRelaxed);
    s.sum = sum_.load(kRelaxed);
    s.filled = filled_.load(kRelaxed);
    s.tick = head_.load(kRelaxed);
    s.newest = slot_[s.tick % slots_].load(kRelaxed);
    s.oldest = s.filled == slots_ ? slot_[(s.tick + 1) % slots_].load(kRelaxed) : 0;
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq_.load(kRelaxed) == seq) return s;
  }
}

}  // namespace enforcer
