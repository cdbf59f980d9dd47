// Once per tick, after the sampler: turns each experiment's window into the policy's decision
// (lib/bandwidth/policy.hpp) and hands the datapath every limit that changed, in one batch.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "bandwidth/policy.hpp"
#include "datapath/datapath.hpp"
#include "state/experiments.hpp"

namespace enforcer {

struct LimiterSettings {
  std::chrono::nanoseconds tick{std::chrono::seconds(1)};
  std::uint64_t link_rate_bits = 10'000'000'000ULL;
  // A policer admits bursts of max(rate × police_burst_time, police_burst_min_bytes) bytes. A
  // smaller bucket than a TCP flow's bursts (64 KiB GSO aggregates, a window's worth at once)
  // holds the flow far below the rate; docs/performance.md ("Policer bucket") has the sizes tried
  // and what each gave. Pacing (EDT, fq) needs no burst.
  std::chrono::nanoseconds police_burst_time = std::chrono::milliseconds(500);
  std::uint64_t police_burst_min_bytes = 512 * 1024;
  // A paced packet that would wait longer than this in fq is dropped instead.
  std::chrono::nanoseconds edt_horizon = std::chrono::seconds(2);
};

// The datapath limit for the policy's rates, `bytes_per_second` per direction. A rate of 0 (a
// spent budget with min_rate 0) passes nothing: kRateStop, never the datapath's "no limit"; a rate
// at or above kRateStop is capped below it. The policer's burst is max(rate × police_burst_time,
// police_burst_min_bytes) bytes; the policy's rate is at most max(A, min_rate) unless pinned, so
// what passes beyond a tick's allowance is at most one burst at that rate. No budget total.
RateLimit rate_limit_for(const LimiterSettings& settings,
                         const std::array<std::uint64_t, 2>& bytes_per_second);

// The budget totals for the datapath (RateLimit::budget_bytes_total): per direction, the
// experiment's charged bytes as the sampler read them plus the tick's path-speed bytes; 0 (no
// budget) where there are none. Counting from the counter as read, not from the last total, is
// what keeps a total unspent last tick from being handed out again on top of the new one.
std::array<std::uint64_t, 2> budget_totals(const std::array<std::uint64_t, 2>& charged,
                                           const std::array<std::uint64_t, 2>& path_speed_bytes);

// What holds once the daemon stops confirming its limits (RateLimit::fallback_*): the
// experiment's allocation A, or its pinned rate where one is set (a pin, a throttle), in both
// directions, with the policer bucket rate_limit_for gives that rate.
void set_fallback(const LimiterSettings& settings, const DirectionPolicy& policy, RateLimit& limit);

// The policy inputs of one experiment and direction, from its effective_limits().
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
