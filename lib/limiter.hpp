// Once per tick, after the sampler: turns each experiment's window into the policy's decision
// (lib/policy.hpp) and hands the datapath every limit that changed, in one batch.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "datapath.hpp"
#include "experiments.hpp"
#include "policy.hpp"

namespace enforcer {

struct LimiterSettings {
  std::chrono::nanoseconds tick{std::chrono::seconds(1)};
  std::uint64_t link_rate_bits = 10'000'000'000ULL;
  // A policer admits bursts of max(rate × police_burst_time, police_burst_min_bytes) bytes.
  // Measured with tests/kernel/rate_limit.sh (veth, 64 KiB GSO packets, Cubic): 84 ms of burst
  // held one TCP flow at 50 Mbit/s to 23 Mbit/s and 128 KiB held one at 10 Mbit/s to 5 Mbit/s;
  // with 500 ms and 512 KiB every case (1 and 8 TCP flows, UDP at 5x; 10, 50, 200 Mbit/s; both
  // directions) lands within 1.1 % of the rate over 10 s. Pacing (EDT, fq) needs no burst.
  std::chrono::nanoseconds police_burst_time = std::chrono::milliseconds(500);
  std::uint64_t police_burst_min_bytes = 512 * 1024;
  // A paced packet that would wait longer than this in fq is dropped instead.
  std::chrono::nanoseconds edt_horizon = std::chrono::seconds(2);
};

// The datapath limit for the policy's limits, `bytes_per_second` per direction. A policy limit of
// 0 (a spent budget with min_rate 0) passes nothing: kRateStop, never the datapath's "no limit";
// a limit at or above kRateStop is capped below it. The policer's burst is
// max(basis × police_burst_time, police_burst_min_bytes) bytes, with basis = min(rate,
// burst_basis) (0: the rate). The limiter passes the allocation as the basis, so a limit set high
// because budget is left (allowance / tick) does not admit half a second of that high rate on top
// of the tick's allowance: what passes beyond the allowance in any window is at most one burst
// at the allocation's rate.
RateLimit rate_limit_for(const LimiterSettings& settings,
                         const std::array<std::uint64_t, 2>& bytes_per_second,
                         const std::array<std::uint64_t, 2>& burst_basis);
RateLimit rate_limit_for(const LimiterSettings& settings,
                         const std::array<std::uint64_t, 2>& bytes_per_second);

// The policy inputs of one experiment and direction, overrides applied.
DirectionPolicy direction_policy(const LimiterSettings& settings, const ExperimentState& x);

class Limiter {
 public:
  Limiter(Datapath& datapath, ExperimentTable& table, LimiterSettings settings)
      : datapath_(datapath), table_(table), settings_(settings) {}

  Expected<void> apply();

 private:
  Datapath& datapath_;
  ExperimentTable& table_;
  const LimiterSettings settings_;
  std::vector<LimitUpdate> updates_;
};

}  // namespace enforcer
