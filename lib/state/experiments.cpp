#include "state/experiments.hpp"

#include <algorithm>

#include "base/log.hpp"

namespace enforcer {

ExperimentState::ExperimentState(std::uint32_t id_, const ExperimentConfig& config,
                                 std::uint32_t window_slots)
    : id(id_), name(config.name), addresses(config.addresses), allocation(config.allocation) {
  for (auto& d : direction) d = std::make_unique<DirectionState>(window_slots);
  overrides.pinned_bits.store(config.pinned_rate_bits, std::memory_order_relaxed);
}

ExperimentState::ExperimentState(const ExperimentState& from, std::uint32_t window_slots)
    : id(from.id),
      name(from.name),
      addresses(from.addresses),
      allocation(from.allocation),
      resources(from.resources),
      last_raw(from.last_raw),
      last_limit(from.last_limit),
      limit_pushed(from.limit_pushed) {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  for (Direction d : kDirections) {
    const DirectionState& f = *from.direction[d];
    auto s = std::make_unique<DirectionState>(window_slots, f.window);
    s->bytes_total.store(f.bytes_total.load(kRelaxed), kRelaxed);
    s->packets_total.store(f.packets_total.load(kRelaxed), kRelaxed);
    s->dropped_bytes_total.store(f.dropped_bytes_total.load(kRelaxed), kRelaxed);
    s->dropped_packets_total.store(f.dropped_packets_total.load(kRelaxed), kRelaxed);
    s->limit_bytes_per_second.store(f.limit_bytes_per_second.load(kRelaxed), kRelaxed);
    s->allowance_bytes.store(f.allowance_bytes.load(kRelaxed), kRelaxed);
    s->throttled.store(f.throttled.load(kRelaxed), kRelaxed);
    s->throttle_events.store(f.throttle_events.load(kRelaxed), kRelaxed);
    direction[d] = std::move(s);
  }
  overrides.bandwidth_bits.store(from.overrides.bandwidth_bits.load(kRelaxed), kRelaxed);
  overrides.min_rate_bits.store(from.overrides.min_rate_bits.load(kRelaxed), kRelaxed);
  overrides.pinned_bits.store(from.overrides.pinned_bits.load(kRelaxed), kRelaxed);
  overrides.window_ns.store(from.overrides.window_ns.load(kRelaxed), kRelaxed);
}

std::uint32_t window_slots(const ExperimentState& x, std::chrono::nanoseconds tick) {
  const std::int64_t override_ns = x.overrides.window_ns.load(std::memory_order_relaxed);
  const std::chrono::nanoseconds window =
      override_ns > 0 ? std::chrono::nanoseconds(override_ns) : x.allocation.window;
  // Config validation keeps W >= 2 ticks; an override below that still gets a working ring.
  return static_cast<std::uint32_t>(std::max<std::int64_t>(2, window / tick));
}

std::size_t resize_windows(ExperimentTable& table, std::chrono::nanoseconds tick) {
  const auto current = table.snapshot();
  ExperimentList next;
  std::size_t resized = 0;
  next.reserve(current->size());
  for (const auto& x : *current) {
    const std::uint32_t want = window_slots(*x, tick);
    const std::uint32_t have = x->direction[0]->window.slots();
    if (want == have) {
      next.push_back(x);
      continue;
    }
    log_info("experiment {}: window now {} ticks (was {}); the newest {} ticks are kept", x->name,
             want, have, std::min(want, have));
    next.push_back(std::make_shared<ExperimentState>(*x, want));
    ++resized;
  }
  if (resized) table.publish(std::move(next));
  return resized;
}

}  // namespace enforcer
