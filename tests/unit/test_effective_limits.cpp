// effective_limits: what the controller applied, else the configured allocation.
#include <catch2/catch.hpp>

#include "state/experiments.hpp"

using namespace enforcer;
using namespace std::chrono_literals;

namespace {

ExperimentConfig configured() {
  ExperimentConfig x;
  x.name = "ndt";
  x.allocation.bandwidth_bits = 100'000'000;
  x.allocation.window = 10s;
  x.allocation.min_rate = MinRate{true, 0.01, 0};
  return x;
}

}  // namespace

TEST_CASE("effective_limits gives the configured allocation when nothing is applied",
          "[experiments]") {
  ExperimentConfig c = configured();
  c.pinned_rate_bits = 5'000'000;
  const ExperimentState x(1, c, 10);
  const EffectiveLimits e = effective_limits(x);
  CHECK(e.bandwidth_bits == 100'000'000);
  CHECK(e.min_rate_bits == 1'000'000);
  CHECK(e.window == 10s);
  CHECK(e.pinned_bits == 5'000'000);
  CHECK(window_slots(x, 1s) == 10);
}

TEST_CASE("effective_limits gives what the controller applied over the configuration",
          "[experiments]") {
  ExperimentState x(1, configured(), 10);
  x.applied.bandwidth_bits.store(2'000'000'000);
  x.applied.min_rate_bits.store(3'000'000);
  x.applied.window_ns.store(std::chrono::nanoseconds(30s).count());
  x.applied.pinned_bits.store(8'000'000);
  const EffectiveLimits e = effective_limits(x);
  CHECK(e.bandwidth_bits == 2'000'000'000);
  CHECK(e.min_rate_bits == 3'000'000);
  CHECK(e.window == 30s);
  CHECK(e.pinned_bits == 8'000'000);
  CHECK(window_slots(x, 1s) == 30);
}

TEST_CASE("effective_limits takes a configured min_rate share of the bandwidth in force",
          "[experiments]") {
  ExperimentState x(1, configured(), 10);
  x.applied.bandwidth_bits.store(2'000'000'000);
  CHECK(effective_limits(x).min_rate_bits == 20'000'000);

  ExperimentConfig absolute = configured();
  absolute.allocation.min_rate = MinRate{false, 0, 800'000};
  ExperimentState y(2, absolute, 10);
  y.applied.bandwidth_bits.store(2'000'000'000);
  CHECK(effective_limits(y).min_rate_bits == 800'000);
}

TEST_CASE("effective_limits ignores a window that is not above 0", "[experiments]") {
  ExperimentState x(1, configured(), 10);
  x.applied.window_ns.store(-1);
  CHECK(effective_limits(x).window == 10s);
  x.applied.window_ns.store(0);
  CHECK(effective_limits(x).window == 10s);
}
