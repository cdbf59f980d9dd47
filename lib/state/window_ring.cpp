#include "state/window_ring.hpp"

#include <algorithm>
#include <stdexcept>

namespace enforcer {

namespace {
constexpr auto kRelaxed = std::memory_order_relaxed;
// Seqlock without fences (Boehm, "Can seqlocks get along with programming language memory
// models?", 2012, section 5): every store to shared data inside a write is a release store, so
// it cannot move before the odd counter stored ahead of it; every load of shared data in a reader
// is an acquire load, so the counter's re-check cannot move before it. On x86-64 both compile to
// plain moves, and ThreadSanitizer understands them (it does not model standalone fences).
constexpr auto kPublish = std::memory_order_release;
constexpr auto kObserve = std::memory_order_acquire;
}  // namespace

WindowRing::WindowRing(std::uint32_t slots)
    : slots_(slots), slot_(std::make_unique<std::atomic<std::uint64_t>[]>(slots)) {
  if (slots < 2) throw std::invalid_argument("WindowRing needs at least two slots");
  for (std::uint32_t i = 0; i < slots_; ++i) slot_[i].store(0, kRelaxed);
}

WindowRing::WindowRing(std::uint32_t slots, const WindowRing& from) : WindowRing(slots) {
  const Snapshot s = from.snapshot();
  if (s.empty) return;
  const std::uint64_t keep = std::min<std::uint64_t>(s.filled, slots_);
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < keep; ++i) {
    const std::uint64_t t = s.tick - i;
    const std::uint64_t bytes = from.slot_[t % from.slots_].load(kRelaxed);
    slot(t).store(bytes, kRelaxed);
    sum += bytes;
  }
  sum_.store(sum, kRelaxed);
  filled_.store(keep == 0 ? 1 : keep, kRelaxed);
  head_.store(s.tick, kRelaxed);
  head_pos_ = static_cast<std::uint32_t>(s.tick % slots_);
  empty_.store(false, kRelaxed);
}

void WindowRing::begin_write() {
  seq_.store(seq_.load(kRelaxed) + 1, kRelaxed);
}

void WindowRing::end_write() {
  seq_.store(seq_.load(kRelaxed) + 1, std::memory_order_release);
}

void WindowRing::record(std::uint64_t tick, std::uint64_t bytes) {
  begin_write();
  if (empty_.load(kRelaxed)) {
    for (std::uint32_t i = 0; i < slots_; ++i) slot_[i].store(0, kPublish);
    head_pos_ = static_cast<std::uint32_t>(tick % slots_);
    slot_[head_pos_].store(bytes, kPublish);
    sum_.store(bytes, kPublish);
    filled_.store(1, kPublish);
    head_.store(tick, kPublish);
    empty_.store(false, kPublish);
    end_write();
    return;
  }
  const std::uint64_t head = head_.load(kRelaxed);
  std::uint64_t sum = sum_.load(kRelaxed);
  if (tick <= head) {
    std::atomic<std::uint64_t>& newest = slot_[head_pos_];
    newest.store(newest.load(kRelaxed) + bytes, kPublish);
    sum_.store(sum + bytes, kPublish);
    end_write();
    return;
  }
  const std::uint64_t gap = tick - head;
  if (gap >= slots_) {
    // The whole window passed: every slot is older than the window.
    for (std::uint32_t i = 0; i < slots_; ++i) slot_[i].store(0, kPublish);
    sum = 0;
    head_pos_ = static_cast<std::uint32_t>(tick % slots_);
  } else {
    // Evict the slots that left the window: the skipped ticks and the one `tick` reuses.
    std::uint32_t pos = head_pos_;
    for (std::uint64_t i = 0; i < gap; ++i) {
      pos = next(pos);
      sum -= slot_[pos].load(kRelaxed);
      slot_[pos].store(0, kPublish);
    }
    head_pos_ = pos;
  }
  slot_[head_pos_].store(bytes, kPublish);
  sum_.store(sum + bytes, kPublish);
  const std::uint64_t filled = filled_.load(kRelaxed) + gap;
  filled_.store(filled < slots_ ? filled : slots_, kPublish);
  head_.store(tick, kPublish);
  end_write();
}

void WindowRing::reset() {
  begin_write();
  for (std::uint32_t i = 0; i < slots_; ++i) slot_[i].store(0, kPublish);
  sum_.store(0, kPublish);
  filled_.store(0, kPublish);
  head_.store(0, kPublish);
  head_pos_ = 0;
  empty_.store(true, kPublish);
  end_write();
}

void WindowRing::restore(std::uint64_t head, const std::vector<std::uint64_t>& newest_first,
                         std::uint64_t filled) {
  const std::uint64_t keep = std::min<std::uint64_t>(newest_first.size(), slots_);
  if (keep == 0 && filled == 0) {
    reset();
    return;
  }
  begin_write();
  std::uint64_t sum = 0;
  for (std::uint32_t i = 0; i < slots_; ++i) slot_[i].store(0, kPublish);
  for (std::uint64_t i = 0; i < keep; ++i) {
    slot(head - i).store(newest_first[i], kPublish);
    sum += newest_first[i];
  }
  sum_.store(sum, kPublish);
  filled_.store(std::clamp<std::uint64_t>(filled, 1, slots_), kPublish);
  head_.store(head, kPublish);
  head_pos_ = static_cast<std::uint32_t>(head % slots_);
  empty_.store(false, kPublish);
  end_write();
}

std::vector<std::uint64_t> WindowRing::newest_first() const {
  std::vector<std::uint64_t> out;
  if (empty_.load(kRelaxed)) return out;
  const std::uint64_t head = head_.load(kRelaxed);
  const std::uint64_t filled = filled_.load(kRelaxed);
  out.reserve(filled);
  for (std::uint64_t i = 0; i < filled; ++i) {
    out.push_back(slot_[(head - i) % slots_].load(kRelaxed));
  }
  return out;
}

WindowRing::Snapshot WindowRing::snapshot() const {
  for (;;) {
    const std::uint64_t seq = seq_.load(std::memory_order_acquire);
    if (seq & 1) continue;  // a write is in progress
    Snapshot s;
    s.empty = empty_.load(kObserve);
    s.sum = sum_.load(kObserve);
    s.filled = filled_.load(kObserve);
    s.tick = head_.load(kObserve);
    s.newest = slot_[s.tick % slots_].load(kObserve);
    s.oldest = s.filled == slots_ ? slot_[(s.tick + 1) % slots_].load(kObserve) : 0;
    if (seq_.load(kRelaxed) == seq) return s;
  }
}

}  // namespace enforcer
