#include "limiter.hpp"

#include <algorithm>

namespace enforcer {

namespace {

// A limit is pushed again when it moved by more than 1/1024 (0.1 %): enough for the accuracy the
// policy promises, and an idle experiment's limit, which does not move, costs no syscall.
bool differs(std::uint64_t a, std::uint64_t b) {
  const std::uint64_t hi = std::max(a, b), lo = std::min(a, b);
  return hi - lo > hi / 1024;
}

bool worth_pushing(const RateLimit& old_limit, const RateLimit& new_limit) {
  for (Direction d : kDirections) {
    if (differs(old_limit.bytes_per_second[d], new_limit.bytes_per_second[d])) return true;
  }
  return false;
}

}  // namespace

RateLimit rate_limit_for(const LimiterSettings& s,
                         const std::array<std::uint64_t, 2>& bytes_per_second,
                         const std::array<std::uint64_t, 2>& burst_basis) {
  RateLimit l;
  l.edt_horizon_ns = static_cast<std::uint64_t>(s.edt_horizon.count());
  for (Direction d : kDirections) {
    const std::uint64_t rate = std::min(bytes_per_second[d], kRateStop - 1);
    if (rate == 0) {
      l.bytes_per_second[d] = kRateStop;
      continue;
    }
    l.bytes_per_second[d] = rate;
    const std::uint64_t basis = std::min(rate, burst_basis[d] ? burst_basis[d] : rate);
    const auto burst_bytes = std::max<unsigned __int128>(
        static_cast<unsigned __int128>(basis) *
            static_cast<std::uint64_t>(s.police_burst_time.count()) / 1'000'000'000,
        s.police_burst_min_bytes);
    l.police_tolerance_ns[d] = static_cast<std::uint64_t>(burst_bytes * 1'000'000'000 / rate);
  }
  return l;
}

RateLimit rate_limit_for(const LimiterSettings& s,
                         const std::array<std::uint64_t, 2>& bytes_per_second) {
  return rate_limit_for(s, bytes_per_second, bytes_per_second);
}

DirectionPolicy direction_policy(const LimiterSettings& s, const ExperimentState& x) {
  const Allocation& a = x.allocation;
  const std::uint64_t bandwidth_override =
      x.overrides.bandwidth_bits.load(std::memory_order_relaxed);
  const std::uint64_t bandwidth = bandwidth_override ? bandwidth_override : a.bandwidth_bits;
  Allocation effective = a;
  effective.bandwidth_bits = bandwidth;
  const std::uint64_t min_rate_override = x.overrides.min_rate_bits.load(std::memory_order_relaxed);

  DirectionPolicy p;
  p.allocation_bytes_per_second = bandwidth / 8;
  p.tick = s.tick;
  p.window_ticks = x.direction[0]->window.slots();
  p.min_rate_bytes_per_second =
      (min_rate_override ? min_rate_override : effective.min_rate_bits()) / 8;
  p.link_rate_bytes_per_second = s.link_rate_bits / 8;
  p.pinned_bytes_per_second = x.overrides.pinned_bits.load(std::memory_order_relaxed) / 8;
  return p;
}

Expected<void> Limiter::apply() {
  const auto experiments = table_.snapshot();
  updates_.clear();
  for (const auto& x : *experiments) {
    const DirectionPolicy policy = direction_policy(settings_, *x);
    std::array<std::uint64_t, 2> rates{};
    for (Direction d : kDirections) {
      DirectionState& s = *x->direction[d];
      const PolicyDecision decision = decide(policy, s.window.snapshot());
      rates[d] = decision.limit_bytes_per_second;
      if (decision.throttled && !s.throttled.load(std::memory_order_relaxed)) {
        s.throttle_events.fetch_add(1, std::memory_order_relaxed);
      }
      s.limit_bytes_per_second.store(decision.limit_bytes_per_second, std::memory_order_relaxed);
      s.allowance_bytes.store(decision.allowance_bytes, std::memory_order_relaxed);
      s.throttled.store(decision.throttled, std::memory_order_relaxed);
    }
    // A limit above the allocation (budget left to spend this tick) gets the allocation's
    // burst, not its own: the burst is what may pass beyond a tick's allowance.
    const std::uint64_t basis =
        policy.pinned_bytes_per_second
            ? 0
            : std::max(policy.allocation_bytes_per_second, policy.min_rate_bytes_per_second);
    const RateLimit limit = rate_limit_for(settings_, rates, {basis, basis});
    if (!x->limit_pushed || worth_pushing(x->last_limit, limit)) {
      updates_.push_back(LimitUpdate{x->id, limit});
      x->last_limit = limit;
      x->limit_pushed = true;
    }
  }
  auto r = datapath_.set_limits(updates_);
  if (!r) {
    // Push them all again at the next tick.
    for (const auto& x : *experiments) x->limit_pushed = false;
  }
  return r;
}

}  // namespace enforcer
