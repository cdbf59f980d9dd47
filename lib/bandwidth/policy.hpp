// The network policy: a sliding-window budget per experiment and direction (docs/policy.md).
// Pure functions of the allocation and the window; the daemon applies the decision to the
// datapath every tick.
//
//   budget     B = A · W
//   spent      S = bytes in the last W − T (the window without the slot that leaves next)
//   allowance  B − S, for the next tick (0 once the budget is spent)
//   limit      max(allowance / T, min_rate): the average rate the next tick allows; with an
//              unspent budget it lies above anything the link can carry and never binds; 0 (a
//              spent budget with min_rate 0) passes nothing: a hard stop until budget is freed
//   throttled  limit < link_rate
// The datapath carries the allowance in two parts, so that a flow meets no rate while budget is
// left (a policer's bucket small against a fast TCP flow's window would hold it to a fraction of
// the rate it was given):
//   rate       max(min(allowance / T, A), min_rate): what the experiment is held to once the
//              part below is spent, with a bucket of at most one burst at A (or min_rate)
//   path speed allowance − rate · T (0 when the rate carries it all): bytes that pass at once, at
//              whatever speed the path has
// so a tick passes at most the allowance (or min_rate · T) plus one burst at the rate, as a held
// rate alone would. A manual throttle pins the rate, whatever the budget, with no path-speed part.
#pragma once

#include <chrono>
#include <cstdint>

#include "state/window_ring.hpp"

namespace enforcer {

struct DirectionPolicy {
  std::uint64_t allocation_bytes_per_second = 0;  // A
  std::uint32_t window_ticks = 0;                 // W / T
  std::chrono::nanoseconds tick{0};               // T
  std::uint64_t min_rate_bytes_per_second = 0;
  std::uint64_t link_rate_bytes_per_second = 0;
  std::uint64_t pinned_bytes_per_second = 0;  // a manual throttle; 0: none

  std::uint64_t budget_bytes() const;  // B = A · W
};

struct PolicyDecision {
  std::uint64_t budget_bytes = 0;
  std::uint64_t spent_bytes = 0;      // S
  std::uint64_t allowance_bytes = 0;  // B − S, never negative
  std::uint64_t limit_bytes_per_second = 0;
  std::uint64_t rate_bytes_per_second = 0;  // the datapath's rate; 0: nothing passes
  std::uint64_t path_speed_bytes = 0;       // the allowance's part beyond what the rate carries
  bool throttled = false;

  bool operator==(const PolicyDecision&) const = default;
};

PolicyDecision decide(const DirectionPolicy& policy, const WindowRing::Snapshot& window);

}  // namespace enforcer
