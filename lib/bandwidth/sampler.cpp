#include "bandwidth/sampler.hpp"

#include <algorithm>

namespace enforcer {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

// The sampler is the only writer of the totals: a load and a store, not a locked fetch_add
// (eight of them per experiment and tick were a tenth of a tick at 10,000 experiments).
void add(std::atomic<std::uint64_t>& total, std::uint64_t delta) {
  total.store(total.load(kRelaxed) + delta, kRelaxed);
}

// How far ahead of the experiment being updated the loop asks for memory: first the state's
// lines, then (once the state's ring headers are in the cache) the slots the rings write next.
// The states and rings are separate allocations spread over tens of MB at 10,000 experiments;
// fetched one after another, each was a full cache miss.
constexpr std::size_t kStateAhead = 16;
constexpr std::size_t kSlotAhead = 8;

// The lines of `x` that a tick reads and writes: its rings' headers, totals and counter baseline.
void prefetch_state(const ExperimentState& x) {
  const char* begin = reinterpret_cast<const char*>(&x.direction);
  const char* end = reinterpret_cast<const char*>(&x.last_raw + 1);
  for (const char* p = begin; p < end; p += 64) __builtin_prefetch(p, 1);
  __builtin_prefetch(end - 1, 1);
}

}  // namespace

void Sampler::update(ExperimentState& x, std::uint64_t tick) {
  const CounterSample& raw = raw_[x.id];
  for (Direction d : kDirections) {
    DirectionState& s = x.direction[d];
    add(s.dropped_bytes_total, counter_delta(x.last_raw.dropped_bytes[d], raw.dropped_bytes[d]));
    add(s.dropped_packets_total,
        counter_delta(x.last_raw.dropped_packets[d], raw.dropped_packets[d]));
    const std::uint64_t bytes = counter_delta(x.last_raw.bytes[d], raw.bytes[d]);
    add(s.bytes_total, bytes);
    add(s.packets_total, counter_delta(x.last_raw.packets[d], raw.packets[d]));
    s.window.record(tick, bytes);
  }
  x.last_raw = raw;
}

Expected<void> Sampler::sample(std::uint64_t tick) {
  const auto experiments = table_.snapshot();
  if (experiments != list_) {
    // A new set (an experiment added, removed or resized): its highest id once, not every tick.
    list_ = experiments;
    max_id_ = 0;
    for (const auto& x : *experiments) max_id_ = std::max(max_id_, x->id);
  }
  if (auto r = datapath_.read_counters(max_id_, raw_); !r) return r;

  const CounterSample& raw = raw_[0];
  CounterSample& last = unattributed_.last_raw;
  for (Direction d : kDirections) {
    add(unattributed_.bytes[d], counter_delta(last.bytes[d], raw.bytes[d]));
    add(unattributed_.packets[d], counter_delta(last.packets[d], raw.packets[d]));
  }
  last = raw;

  const ExperimentList& list = *experiments;
  const std::size_t n = list.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kStateAhead < n) prefetch_state(*list[i + kStateAhead]);
    if (i + kSlotAhead < n) {
      for (const DirectionState& s : list[i + kSlotAhead]->direction) s.window.prefetch_next_slot();
    }
    update(*list[i], tick);
  }
  return {};
}

}  // namespace enforcer
