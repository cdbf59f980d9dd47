// The network policy: a sliding-window budget per experiment and direction (DESIGN.md, "The
// network policy"). Pure functions of the allocation and the window; the daemon applies the
// decision to the datapath every tick.
//
//   budget     B = A · W
//   spent      S = bytes in the last W − T (the window without the slot that leaves next)
//   allowance  B − S, for the next tick (0 once the budget is spent)
//   limit      max(allowance / T, min_rate) — carried by the datapath at all times; with an
//              unspent budget it lies above anything the link can carry and never binds; 0 (a
//              spent budget with min_rate 0) passes nothing: a hard stop until budget is freed
//   throttled  limit < link_rate
// A manual throttle pins the limit to a rate, whatever the budget.
#pragma once

#include <chrono>
#include <cstdint>

#include "window_ring.hpp"

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
  bool throttled = false;

  bool operator==(const PolicyDecision&) const = default;
};

PolicyDecision decide(const DirectionPolicy& policy, const WindowRing::Snapshot& window);

}  // namespace enforcer
