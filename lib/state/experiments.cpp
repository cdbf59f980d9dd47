#include "state/experiments.hpp"

#include <algorithm>

#include "base/log.hpp"

namespace enforcer {

ExperimentState::ExperimentState(std::uint32_t id_, const ExperimentConfig& config,
                                 std::uint32_t window_slots)
    : id(id_),
      name(config.name),
      addresses(config.addresses),
      allocation(config.allocation),
      direction{{DirectionState(window_slots), DirectionState(window_slots)}} {
  applied.pinned_bits.store(config.pinned_rate_bits, std::memory_order_relaxed);
  resources->optional.store(config.optional, std::memory_order_relaxed);
}

ExperimentState::ExperimentState(const ExperimentState& from, std::uint32_t window_slots)
    : id(from.id),
      name(from.name),
      addresses(from.addresses),
      allocation(from.allocation),
      direction{{DirectionState(window_slots, from.direction[0].window),
                 DirectionState(window_slots, from.direction[1].window)}},
      resources(from.resources),
      last_raw(from.last_raw),
      last_limit(from.last_limit),
      limit_pushed(from.limit_pushed) {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  for (Direction d : kDirections) {
    const DirectionState& f = from.direction[d];
    DirectionState& s = direction[d];
    s.bytes_total.store(f.bytes_total.load(kRelaxed), kRelaxed);
    s.packets_total.store(f.packets_total.load(kRelaxed), kRelaxed);
    s.dropped_bytes_total.store(f.dropped_bytes_total.load(kRelaxed), kRelaxed);
    s.dropped_packets_total.store(f.dropped_packets_total.load(kRelaxed), kRelaxed);
    s.limit_bytes_per_second.store(f.limit_bytes_per_second.load(kRelaxed), kRelaxed);
    s.allowance_bytes.store(f.allowance_bytes.load(kRelaxed), kRelaxed);
    s.throttled.store(f.throttled.load(kRelaxed), kRelaxed);
    s.throttle_events.store(f.throttle_events.load(kRelaxed), kRelaxed);
  }
  applied.bandwidth_bits.store(from.applied.bandwidth_bits.load(kRelaxed), kRelaxed);
  applied.min_rate_bits.store(from.applied.min_rate_bits.load(kRelaxed), kRelaxed);
  applied.pinned_bits.store(from.applied.pinned_bits.load(kRelaxed), kRelaxed);
  applied.window_ns.store(from.applied.window_ns.load(kRelaxed), kRelaxed);
}

EffectiveLimits effective_limits(const ExperimentState& x) {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  const Allocation& configured = x.allocation;
  EffectiveLimits e;
  const std::uint64_t bandwidth = x.applied.bandwidth_bits.load(kRelaxed);
  e.bandwidth_bits = bandwidth ? bandwidth : configured.bandwidth_bits;
  const std::uint64_t min_rate = x.applied.min_rate_bits.load(kRelaxed);
  if (min_rate) {
    e.min_rate_bits = min_rate;
  } else {
    Allocation in_force = configured;
    in_force.bandwidth_bits = e.bandwidth_bits;
    e.min_rate_bits = in_force.min_rate_bits();
  }
  const std::int64_t window_ns = x.applied.window_ns.load(kRelaxed);
  e.window = window_ns > 0 ? std::chrono::nanoseconds(window_ns) : configured.window;
  e.pinned_bits = x.applied.pinned_bits.load(kRelaxed);
  return e;
}

std::uint32_t window_slots(const ExperimentState& x, std::chrono::nanoseconds tick) {
  const std::chrono::nanoseconds window = effective_limits(x).window;
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
    const std::uint32_t have = x->direction[0].window.slots();
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

void set_optional_flags(const ExperimentTable& table, const Config& config) {
  for (const auto& st : *table.snapshot()) {
    for (const ExperimentConfig& x : config.experiments) {
      if (x.name == st->name) st->resources->optional.store(x.optional, std::memory_order_relaxed);
    }
  }
}

}  // namespace enforcer
