// The limiter: the policy's decision per experiment and direction, handed to the datapath.
#include <catch2/catch.hpp>
#include <map>

#include "limiter.hpp"

using namespace enforcer;
using namespace std::chrono_literals;

namespace {

class RecordingDatapath : public Datapath {
 public:
  Expected<void> add_experiment(std::uint32_t, const std::vector<Prefix>&) override { return {}; }
  Expected<void> remove_experiment(std::uint32_t, const std::vector<Prefix>&) override {
    return {};
  }
  Expected<void> read_counters(std::uint32_t max_id, std::vector<CounterSample>& out) override {
    out.assign(max_id + 1, CounterSample{});
    return {};
  }
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
      x.name = "x" + std::to_string(id);
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

TEST_CASE("police tolerance is max(500 ms, 512 KiB) at the rate; EDT gets the horizon",
          "[limiter]") {
  LimiterSettings s;
  RateLimit l = rate_limit_for(s, {1'250'000, 125'000});  // 10 and 1 Mbit/s
  CHECK(l.police_tolerance_ns[kEgress] == 500'000'000);
  CHECK(l.police_tolerance_ns[kIngress] == 512ULL * 1024 * 1'000'000'000 / 125'000);
  CHECK(l.edt_horizon_ns == 2'000'000'000);
  l = rate_limit_for(s, {0, 0});  // no rate: nothing to tolerate
  CHECK(l.police_tolerance_ns[kEgress] == 0);
}

TEST_CASE("the limiter pushes every limit once, then only what changed, in one batch",
          "[limiter]") {
  Fixture f;
  REQUIRE(f.limiter->apply().ok());
  CHECK(f.dp.batches == 1);
  REQUIRE(f.dp.limits.size() == 2);
  // Unspent budget: B / T = 125 MB per 1 s tick, far above the link: not throttled.
  CHECK(f.dp.limits[1].bytes_per_second[kEgress] == 125'000'000);
  CHECK_FALSE(f.x(0).direction[kEgress]->throttled.load());

  REQUIRE(f.limiter->apply().ok());
  CHECK(f.dp.last_batch.empty());  // nothing moved

  // Experiment 1 spends its whole budget: only it is pushed, at min_rate (1 % of A).
  f.x(0).direction[kEgress]->window.record(0, 125'000'000);
  REQUIRE(f.limiter->apply().ok());
  REQUIRE(f.dp.last_batch.size() == 1);
  CHECK(f.dp.last_batch[0].id == 1);
  CHECK(f.dp.limits[1].bytes_per_second[kEgress] == 125'000);
  CHECK(f.dp.limits[1].bytes_per_second[kIngress] == 125'000'000);
  CHECK(f.x(0).direction[kEgress]->throttled.load());
  CHECK(f.x(0).direction[kEgress]->throttle_events.load() == 1);
  CHECK(f.x(0).direction[kEgress]->allowance_bytes.load() == 0);
  REQUIRE(f.limiter->apply().ok());
  CHECK(f.x(0).direction[kEgress]->throttle_events.load() == 1);  // still the same episode
}

TEST_CASE("overrides and a pinned rate take effect at the next tick", "[limiter]") {
  Fixture f;
  REQUIRE(f.limiter->apply().ok());
  f.x(1).overrides.pinned_bits.store(10'000'000);
  REQUIRE(f.limiter->apply().ok());
  CHECK(f.dp.limits[2].bytes_per_second[kEgress] == 1'250'000);
  CHECK(f.dp.limits[2].bytes_per_second[kIngress] == 1'250'000);
  CHECK(f.x(1).direction[kIngress]->throttled.load());

  f.x(1).overrides.pinned_bits.store(0);
  f.x(1).overrides.bandwidth_bits.store(2'000'000'000);  // B = 2.5 GB over 10 s
  REQUIRE(f.limiter->apply().ok());
  CHECK(f.dp.limits[2].bytes_per_second[kEgress] == 2'500'000'000);
  CHECK_FALSE(f.x(1).direction[kEgress]->throttled.load());
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
