#include "bandwidth/limiter.hpp"

#include <algorithm>

namespace enforcer {

namespace {

// A limit is pushed again when it moved by more than 1/1024 (0.1 %): enough for the accuracy the
// policy promises, and an idle experiment's limit, which does not move, costs no syscall.
bool differs(std::uint64_t a, std::uint64_t b) {
  const std::uint64_t hi = std::max(a, b), lo = std::min(a, b);
  return hi - lo > hi / 1024;
}

// A budget total is pushed whenever it moved: it is a count of bytes, not a rate.
bool worth_pushing(const RateLimit& old_limit, const RateLimit& new_limit) {
  for (Direction d : kDirections) {
    if (differs(old_limit.bytes_per_second[d], new_limit.bytes_per_second[d]) ||
        old_limit.budget_bytes_total[d] != new_limit.budget_bytes_total[d] ||
        old_limit.fallback_bytes_per_second[d] != new_limit.fallback_bytes_per_second[d]) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::array<std::uint64_t, 2> budget_totals(const std::array<std::uint64_t, 2>& charged,
                                           const std::array<std::uint64_t, 2>& path_speed_bytes) {
  std::array<std::uint64_t, 2> totals{};
  for (Direction d : kDirections) {
    if (path_speed_bytes[d] == 0) continue;
    totals[d] = charged[d] > UINT64_MAX - path_speed_bytes[d] ? UINT64_MAX
                                                              : charged[d] + path_speed_bytes[d];
  }
  return totals;
}

RateLimit rate_limit_for(const LimiterSettings& s,
                         const std::array<std::uint64_t, 2>& bytes_per_second) {
  RateLimit l;
  l.edt_horizon_ns = static_cast<std::uint64_t>(s.edt_horizon.count());
  for (Direction d : kDirections) {
    const std::uint64_t rate = std::min(bytes_per_second[d], kRateStop - 1);
    if (rate == 0) {
      l.bytes_per_second[d] = kRateStop;
      continue;
    }
    l.bytes_per_second[d] = rate;
    const auto burst_bytes = std::max<unsigned __int128>(
        static_cast<unsigned __int128>(rate) *
            static_cast<std::uint64_t>(s.police_burst_time.count()) / 1'000'000'000,
        s.police_burst_min_bytes);
    l.police_tolerance_ns[d] = static_cast<std::uint64_t>(burst_bytes * 1'000'000'000 / rate);
  }
  return l;
}

void set_fallback(const LimiterSettings& s, const DirectionPolicy& policy, RateLimit& limit) {
  const std::uint64_t rate = policy.pinned_bytes_per_second ? policy.pinned_bytes_per_second
                                                            : policy.allocation_bytes_per_second;
  const RateLimit fallback = rate_limit_for(s, {rate, rate});
  limit.fallback_bytes_per_second = fallback.bytes_per_second;
  limit.fallback_tolerance_ns = fallback.police_tolerance_ns;
}

DirectionPolicy direction_policy(const LimiterSettings& s, const ExperimentState& x) {
  const EffectiveLimits limits = effective_limits(x);
  DirectionPolicy p;
  p.allocation_bytes_per_second = limits.bandwidth_bits / 8;
  p.tick = s.tick;
  p.window_ticks = x.direction[0].window.slots();
  p.min_rate_bytes_per_second = limits.min_rate_bits / 8;
  p.link_rate_bytes_per_second = s.link_rate_bits / 8;
  p.pinned_bytes_per_second = limits.pinned_bits / 8;
  return p;
}

Expected<void> Limiter::apply() {
  const auto experiments = table_.snapshot();
  updates_.clear();
  for (const auto& x : *experiments) {
    const DirectionPolicy policy = direction_policy(settings_, *x);
    std::array<std::uint64_t, 2> rates{};
    std::array<std::uint64_t, 2> path_speed{};
    for (Direction d : kDirections) {
      DirectionState& s = x->direction[d];
      const PolicyDecision decision = decide(policy, s.window.snapshot());
      rates[d] = decision.rate_bytes_per_second;
      path_speed[d] = decision.path_speed_bytes;
      if (decision.throttled && !s.throttled.load(std::memory_order_relaxed)) {
        s.throttle_events.fetch_add(1, std::memory_order_relaxed);
      }
      s.limit_bytes_per_second.store(decision.limit_bytes_per_second, std::memory_order_relaxed);
      s.allowance_bytes.store(decision.allowance_bytes, std::memory_order_relaxed);
      s.throttled.store(decision.throttled, std::memory_order_relaxed);
    }
    RateLimit limit = rate_limit_for(settings_, rates);
    limit.budget_bytes_total = budget_totals(x->last_raw.charged, path_speed);
    set_fallback(settings_, policy, limit);
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
