#include "bandwidth/sampler.hpp"

namespace enforcer {

namespace {

// Calls add(direction, bytes, packets) with what `raw` adds to `last`, then advances `last`.
template <typename Add>
void apply_deltas(const CounterSample& raw, CounterSample& last, Add&& add) {
  for (Direction d : kDirections) {
    add(d, counter_delta(last.bytes[d], raw.bytes[d]),
        counter_delta(last.packets[d], raw.packets[d]));
  }
  last = raw;
}

}  // namespace

Expected<void> Sampler::sample(std::uint64_t tick) {
  const auto experiments = table_.snapshot();
  std::uint32_t max_id = 0;
  for (const auto& x : *experiments) max_id = std::max(max_id, x->id);
  if (auto r = datapath_.read_counters(max_id, raw_); !r) return r;

  apply_deltas(raw_[0], unattributed_.last_raw,
               [&](Direction d, std::uint64_t bytes, std::uint64_t packets) {
                 unattributed_.bytes[d].fetch_add(bytes, std::memory_order_relaxed);
                 unattributed_.packets[d].fetch_add(packets, std::memory_order_relaxed);
               });
  for (const auto& x : *experiments) {
    for (Direction d : kDirections) {
      DirectionState& s = *x->direction[d];
      s.dropped_bytes_total.fetch_add(
          counter_delta(x->last_raw.dropped_bytes[d], raw_[x->id].dropped_bytes[d]),
          std::memory_order_relaxed);
      s.dropped_packets_total.fetch_add(
          counter_delta(x->last_raw.dropped_packets[d], raw_[x->id].dropped_packets[d]),
          std::memory_order_relaxed);
    }
    apply_deltas(raw_[x->id], x->last_raw,
                 [&](Direction d, std::uint64_t bytes, std::uint64_t packets) {
                   DirectionState& s = *x->direction[d];
                   s.bytes_total.fetch_add(bytes, std::memory_order_relaxed);
                   s.packets_total.fetch_add(packets, std::memory_order_relaxed);
                   s.window.record(tick, bytes);
                 });
  }
  return {};
}

}  // namespace enforcer
