#include "bandwidth/policy.hpp"

#include <algorithm>

namespace enforcer {

namespace {
constexpr unsigned __int128 kNanosPerSecond = 1'000'000'000;

std::uint64_t saturate(unsigned __int128 v) {
  return v > UINT64_MAX ? UINT64_MAX : static_cast<std::uint64_t>(v);
}
}  // namespace

std::uint64_t DirectionPolicy::budget_bytes() const {
  const unsigned __int128 window_ns =
      static_cast<unsigned __int128>(window_ticks) * static_cast<std::uint64_t>(tick.count());
  return saturate(allocation_bytes_per_second * window_ns / kNanosPerSecond);
}

PolicyDecision decide(const DirectionPolicy& p, const WindowRing::Snapshot& w) {
  PolicyDecision d;
  d.budget_bytes = p.budget_bytes();
  // The slot that leaves the window at the next tick no longer counts against the budget.
  d.spent_bytes = w.sum - std::min(w.oldest, w.sum);
  d.allowance_bytes = d.budget_bytes > d.spent_bytes ? d.budget_bytes - d.spent_bytes : 0;
  const auto tick_ns = static_cast<std::uint64_t>(std::max<std::int64_t>(p.tick.count(), 1));
  const std::uint64_t from_allowance =
      saturate(static_cast<unsigned __int128>(d.allowance_bytes) * kNanosPerSecond / tick_ns);
  if (p.pinned_bytes_per_second != 0) {
    d.limit_bytes_per_second = d.rate_bytes_per_second = p.pinned_bytes_per_second;
  } else {
    d.limit_bytes_per_second = std::max(from_allowance, p.min_rate_bytes_per_second);
    d.rate_bytes_per_second = std::max(std::min(from_allowance, p.allocation_bytes_per_second),
                                       p.min_rate_bytes_per_second);
    const std::uint64_t carried = saturate(static_cast<unsigned __int128>(d.rate_bytes_per_second) *
                                           tick_ns / kNanosPerSecond);
    // Only where the rate carries less than the allowance (not for the bytes of rounding).
    if (d.rate_bytes_per_second < from_allowance && d.allowance_bytes > carried) {
      d.path_speed_bytes = d.allowance_bytes - carried;
    }
  }
  d.throttled = d.limit_bytes_per_second < p.link_rate_bytes_per_second;
  return d;
}

}  // namespace enforcer
