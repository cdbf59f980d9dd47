// The limiter: the policy's decision per experiment and direction, handed to the datapath.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <map>

#include "bandwidth/limiter.hpp"
#include "datapath/null_datapath.hpp"

#include "rate.h"  // the datapath's own rate arithmetic (C for the BPF programs)

using namespace enforcer;
using namespace std::chrono_literals;

namespace {

class RecordingDatapath : public NullDatapath {
 public:
  Expected<void> set_limits(const std::vector<LimitUpdate>& updates) override {
    ++batches;
    last_batch = updates;
    if (fail) return Error{"injected"};
    for (const auto& u : updates) limits[u.id] = u.limit;
    return {};
  }

  int batches = 0;
  bool fail = false;
  std::vector<LimitUpdate> last_batch;
  std::map<std::uint32_t, RateLimit> limits;
};

struct Fixture {
  RecordingDatapath dp;
  ExperimentTable table;
  LimiterSettings settings;
  std::unique_ptr<Limiter> limiter;

  Fixture() {
    settings.tick = 1s;
    settings.link_rate_bits = 1'000'000'000;
    ExperimentList list;
    for (std::uint32_t id = 1; id <= 2; ++id) {
      ExperimentConfig x;
      x.name = fmt::format("x{}", id);
      x.allocation.bandwidth_bits = 100'000'000;  // 12.5 MB/s
      x.allocation.window = 10s;
      list.push_back(std::make_shared<ExperimentState>(id, x, 10));
    }
    table.publish(list);
    limiter = std::make_unique<Limiter>(dp, table, settings);
  }
  ExperimentState& x(std::size_t i) { return *(*table.snapshot())[i]; }
};

}  // namespace

TEST_CASE("police tolerance is max(500 ms, 512 KiB) at the rate, EDT gets the horizon",
          "[limiter]") {
  LimiterSettings s;
  RateLimit l = rate_limit_for(s, {1'250'000, 125'000});  // 10 and 1 Mbit/s
  CHECK(l.police_tolerance_ns[kEgress] == 500'000'000);
  CHECK(l.police_tolerance_ns[kIngress] == 512ULL * 1024 * 1'000'000'000 / 125'000);
  CHECK(l.edt_horizon_ns == 2'000'000'000);
}

TEST_CASE("a policy limit of 0 reaches the datapath as a stop, never as 'no limit'", "[limiter]") {
  LimiterSettings s;
  RateLimit l = rate_limit_for(s, {0, 125'000});
  CHECK(l.bytes_per_second[kEgress] == kRateStop);
  CHECK(enforcer_rate_stops(l.bytes_per_second[kEgress]));
  CHECK_FALSE(enforcer_rate_unlimited(l.bytes_per_second[kEgress]));
  CHECK(l.police_tolerance_ns[kEgress] == 0);  // nothing passes: nothing to tolerate
  CHECK(l.bytes_per_second[kIngress] == 125'000);
  // A saturated limit (a huge allowance) stays a rate.
  l = rate_limit_for(s, {UINT64_MAX, kRateStop});
  CHECK(l.bytes_per_second[kEgress] == kRateStop - 1);
  CHECK(l.bytes_per_second[kIngress] == kRateStop - 1);
}

TEST_CASE("budget totals count on from the charged bytes as read, none without path-speed bytes",
          "[limiter]") {
  CHECK(budget_totals({1'000, 5'000}, {250, 0}) == std::array<std::uint64_t, 2>{1'250, 0});
  CHECK(budget_totals({0, 0}, {0, 0}) == std::array<std::uint64_t, 2>{0, 0});
  CHECK(budget_totals({UINT64_MAX - 1, 7}, {10, 1}) ==
        std::array<std::uint64_t, 2>{UINT64_MAX, 8});  // saturates, never wraps to "no budget"
}

TEST_CASE("the limiter pushes every limit once, then only what changed, in one batch",
          "[limiter]") {
  Fixture f;
  REQUIRE(f.limiter->apply().ok());
  CHECK(f.dp.batches == 1);
  REQUIRE(f.dp.limits.size() == 2);
  // Unspent budget: B = 125 MB. The rate is the allocation (12.5 MB/s); the 112.5 MB it does
  // not carry in the 1 s tick pass at the path's speed. The limit (B / T) is far above the link:
  // not throttled.
  CHECK(f.dp.limits[1].bytes_per_second[kEgress] == 12'500'000);
  CHECK(f.dp.limits[1].police_tolerance_ns[kEgress] == 500'000'000);
  CHECK(f.dp.limits[1].budget_bytes_total[kEgress] == 112'500'000);
  CHECK(f.x(0).direction[kEgress].limit_bytes_per_second.load() == 125'000'000);
  CHECK_FALSE(f.x(0).direction[kEgress].throttled.load());

  REQUIRE(f.limiter->apply().ok());
  CHECK(f.dp.last_batch.empty());  // nothing moved

  // 3 MB passed against the budget (the sampler read the charged counter): the total moves on
  // by them, the window has not seen them yet.
  f.x(1).last_raw.charged[kIngress] = 3'000'000;
  REQUIRE(f.limiter->apply().ok());
  REQUIRE(f.dp.last_batch.size() == 1);
  CHECK(f.dp.limits[2].budget_bytes_total[kIngress] == 115'500'000);
  CHECK(f.dp.limits[2].budget_bytes_total[kEgress] == 112'500'000);

  // Experiment 1 spends its whole budget: only it is pushed, at min_rate (1 % of A).
  f.x(0).direction[kEgress].window.record(0, 125'000'000);
  REQUIRE(f.limiter->apply().ok());
  REQUIRE(f.dp.last_batch.size() == 1);
  CHECK(f.dp.last_batch[0].id == 1);
  CHECK(f.dp.limits[1].bytes_per_second[kEgress] == 125'000);
  CHECK(f.dp.limits[1].budget_bytes_total[kEgress] == 0);  // nothing left beyond the rate
  CHECK(f.dp.limits[1].bytes_per_second[kIngress] == 12'500'000);
  CHECK(f.x(0).direction[kEgress].throttled.load());
  CHECK(f.x(0).direction[kEgress].throttle_events.load() == 1);
  CHECK(f.x(0).direction[kEgress].allowance_bytes.load() == 0);
  REQUIRE(f.limiter->apply().ok());
  CHECK(f.x(0).direction[kEgress].throttle_events.load() == 1);  // still the same episode
}

TEST_CASE("overrides and a pinned rate take effect at the next tick", "[limiter]") {
  Fixture f;
  REQUIRE(f.limiter->apply().ok());
  f.x(1).applied.pinned_bits.store(10'000'000);
  REQUIRE(f.limiter->apply().ok());
  CHECK(f.dp.limits[2].bytes_per_second[kEgress] == 1'250'000);
  CHECK(f.dp.limits[2].bytes_per_second[kIngress] == 1'250'000);
  CHECK(f.dp.limits[2].budget_bytes_total[kEgress] == 0);  // a pinned rate has no budget part
  CHECK(f.x(1).direction[kIngress].throttled.load());

  f.x(1).applied.pinned_bits.store(0);
  f.x(1).applied.bandwidth_bits.store(2'000'000'000);  // B = 2.5 GB over 10 s
  REQUIRE(f.limiter->apply().ok());
  CHECK(f.dp.limits[2].bytes_per_second[kEgress] == 250'000'000);  // the new allocation
  CHECK(f.dp.limits[2].budget_bytes_total[kEgress] == 2'250'000'000);
  CHECK_FALSE(f.x(1).direction[kEgress].throttled.load());
}

TEST_CASE("the fallback, what holds once the daemon stops confirming, is A or the pinned rate",
          "[limiter]") {
  Fixture f;
  REQUIRE(f.limiter->apply().ok());
  // An idle experiment: its limit lets a burst through (the budget form), its fallback is
  // A = 12.5 MB/s with A's policer bucket and no budget.
  const RateLimit& idle = f.dp.limits[1];
  CHECK(idle.budget_bytes_total[kEgress] > 0);
  for (Direction d : kDirections) {
    CHECK(idle.fallback_bytes_per_second[d] == 12'500'000);
    CHECK(idle.fallback_tolerance_ns[d] == 500'000'000);
  }
  // A pin (or a throttle) holds after the daemon too.
  f.x(1).applied.pinned_bits.store(8'000'000);
  REQUIRE(f.limiter->apply().ok());
  CHECK(f.dp.limits[2].fallback_bytes_per_second[kIngress] == 1'000'000);
  // A changed allocation reaches the datapath's fallback at the next tick.
  f.x(0).applied.bandwidth_bits.store(200'000'000);
  REQUIRE(f.limiter->apply().ok());
  CHECK(f.dp.limits[1].fallback_bytes_per_second[kEgress] == 25'000'000);
}

TEST_CASE("a failed push is retried in full at the next tick", "[limiter]") {
  Fixture f;
  f.dp.fail = true;
  CHECK_FALSE(f.limiter->apply().ok());
  f.dp.fail = false;
  REQUIRE(f.limiter->apply().ok());
  CHECK(f.dp.last_batch.size() == 2);
  CHECK(f.dp.limits.size() == 2);
}

TEST_CASE("a window override resizes the rings at the next tick, keeping the newest ticks",
          "[limiter]") {
  Fixture f;
  // x1 sent 1 MB in each of ticks 0..9: its 10-tick window is full (10 MB).
  for (std::uint64_t t = 0; t < 10; ++t) f.x(0).direction[kEgress].window.record(t, 1'000'000);
  f.x(0).direction[kEgress].bytes_total.store(10'000'000);
  auto old_snapshot = f.table.snapshot();
  ExperimentState& old_x1 = *(*old_snapshot)[0];

  CHECK(resize_windows(f.table, 1s) == 0);  // nothing asked: nothing changes
  CHECK(f.table.snapshot() == old_snapshot);

  old_x1.applied.window_ns.store(std::chrono::nanoseconds(4s).count());
  old_x1.applied.bandwidth_bits.store(8'000'000);
  CHECK(resize_windows(f.table, 1s) == 1);
  ExperimentState& x1 = f.x(0);
  CHECK(&x1 != &old_x1);
  CHECK(&f.x(1) == (*old_snapshot)[1].get());  // the other experiment is the same object
  const auto w = x1.direction[kEgress].window.snapshot();
  CHECK(x1.direction[kEgress].window.slots() == 4);
  CHECK(w.sum == 4'000'000);  // the newest 4 ticks
  CHECK(w.tick == 9);
  CHECK(w.filled == 4);
  CHECK(x1.direction[kEgress].bytes_total.load() == 10'000'000);
  CHECK(x1.applied.bandwidth_bits.load() == 8'000'000);
  // Readers of the old snapshot still see the old rings, intact.
  CHECK(old_x1.direction[kEgress].window.snapshot().sum == 10'000'000);

  // The policy now uses W = 4 ticks: B = 1 MB/s * 4 s = 4 MB, all spent, minus the tick that
  // leaves: allowance 1 MB.
  REQUIRE(f.limiter->apply());
  CHECK(x1.direction[kEgress].allowance_bytes.load() == 1'000'000);

  // Growing keeps what there is; older ticks are unknown and count as zero.
  x1.applied.window_ns.store(std::chrono::nanoseconds(20s).count());
  CHECK(resize_windows(f.table, 1s) == 1);
  CHECK(f.x(0).direction[kEgress].window.slots() == 20);
  CHECK(f.x(0).direction[kEgress].window.snapshot().sum == 4'000'000);
  CHECK(f.x(0).direction[kIngress].window.slots() == 20);

  // Clearing the override goes back to the allocation's window.
  f.x(0).applied.window_ns.store(0);
  CHECK(resize_windows(f.table, 1s) == 1);
  CHECK(f.x(0).direction[kEgress].window.slots() == 10);
}

TEST_CASE("the datapath charges a packet at least its time at the rate, never less", "[limiter]") {
  // cost · rate ≥ len · 10^9 (never under the rate), and (cost − 1) · rate < len · 10^9 (at most
  // one ns over). Rounded down, 60 bytes at 9.4 Gbit/s cost 50 ns instead of 50.99: 2 % over.
  const std::uint64_t rates[] = {
      1, 125, 1'250'000, 12'500'000, 1'176'701'314, 1'250'000'000, 12'500'000'000, kRateStop - 1};
  const std::uint64_t lengths[] = {1, 42, 60, 64, 577, 1514, 9014, 65'535, 70'000};
  for (const std::uint64_t rate : rates) {
    for (const std::uint64_t len : lengths) {
      INFO(len << " bytes at " << rate << " B/s");
      const unsigned __int128 exact = static_cast<unsigned __int128>(len) * 1'000'000'000u;
      const std::uint64_t cost = rate_cost(len, rate);
      CHECK(static_cast<unsigned __int128>(cost) * rate >= exact);
      CHECK(static_cast<unsigned __int128>(cost - 1) * rate < exact);  // len > 0: cost > 0
    }
  }
}
