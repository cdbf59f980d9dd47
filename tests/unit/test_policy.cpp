// The sliding-window budget (lib/bandwidth/policy.hpp) driven by a simulated sender, link and
// clock.
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <vector>

#include "bandwidth/limiter.hpp"
#include "bandwidth/policy.hpp"

using namespace enforcer;
using namespace std::chrono_literals;

namespace {

// One experiment in one direction: each tick the datapath lets through what the sender wants,
// capped by the link and by what the policy set at the end of the previous tick: its path-speed
// bytes, then its rate. The rate reaches the datapath as the limiter pushes it (rate_limit_for)
// and is read with the programs' own predicates (bpf/enforcer_abi.h), so the simulation cannot
// mean something else by a rate than the datapath does; a held rate passes exactly rate × T per
// tick (an ideal policer), and a stop passes nothing, path-speed bytes or not (as the programs).
struct Simulation {
  DirectionPolicy policy;
  std::uint64_t link_bytes_per_tick;
  WindowRing ring;
  std::vector<std::uint64_t> passed;  // bytes per tick
  std::vector<PolicyDecision> decisions;
  std::uint64_t tick = 0;

  explicit Simulation(const DirectionPolicy& p, std::uint64_t link_per_tick)
      : policy(p), link_bytes_per_tick(link_per_tick), ring(p.window_ticks) {}

  std::uint64_t tick_seconds_bytes(std::uint64_t bytes_per_second) const {
    const unsigned __int128 bytes = static_cast<unsigned __int128>(bytes_per_second) *
                                    static_cast<std::uint64_t>(policy.tick.count()) / 1'000'000'000;
    return bytes > UINT64_MAX ? UINT64_MAX : static_cast<std::uint64_t>(bytes);
  }

  // What the datapath passes in one tick under decision d.
  std::uint64_t datapath_bytes_per_tick(const PolicyDecision& d) const {
    LimiterSettings settings;
    settings.tick = policy.tick;
    const std::uint64_t rate =
        rate_limit_for(settings, {d.rate_bytes_per_second, d.rate_bytes_per_second})
            .bytes_per_second[kEgress];
    if (enforcer_rate_unlimited(rate)) return UINT64_MAX;
    if (enforcer_rate_stops(rate)) return 0;
    return d.path_speed_bytes + tick_seconds_bytes(rate);
  }

  PolicyDecision current() const { return decide(policy, ring.snapshot()); }

  // One tick with the sender wanting `demand` bytes.
  void step(std::uint64_t demand) {
    const PolicyDecision d = current();
    decisions.push_back(d);
    const std::uint64_t cap = datapath_bytes_per_tick(d);
    const std::uint64_t x = std::min({demand, cap, link_bytes_per_tick});
    passed.push_back(x);
    ring.record(tick++, x);
  }

  // The largest sum over any window-long run of ticks.
  std::uint64_t max_window_sum() const {
    const std::size_t n = policy.window_ticks;
    std::uint64_t sum = 0, best = 0;
    for (std::size_t i = 0; i < passed.size(); ++i) {
      sum += passed[i];
      if (i >= n) sum -= passed[i - n];
      best = std::max(best, sum);
    }
    return best;
  }
};

DirectionPolicy mlab_scaled() {
  // The vm tier's scaled window: A = 40 Mbit/s, W = 20 s, T = 0.5 s, min_rate 1 %.
  DirectionPolicy p;
  p.allocation_bytes_per_second = 40'000'000 / 8;
  p.tick = 500ms;
  p.window_ticks = 40;
  p.min_rate_bytes_per_second = p.allocation_bytes_per_second / 100;
  p.link_rate_bytes_per_second = 1'000'000'000 / 8;
  return p;
}

}  // namespace

TEST_CASE("budget is allocation times window", "[policy]") {
  DirectionPolicy p;
  p.allocation_bytes_per_second = 100'000'000 / 8;  // M-Lab's default
  p.tick = 1s;
  p.window_ticks = 300;
  CHECK(p.budget_bytes() == 3'750'000'000ULL);  // 3.75 GB: M-Lab's 100 Mbit/s over 5 minutes
  p.allocation_bytes_per_second = 2'500'000'000ULL / 8;
  CHECK(p.budget_bytes() == 93'750'000'000ULL);  // ndt at 2.5 Gbit/s: no overflow
}

TEST_CASE("an unspent budget never binds, a spent one falls to min_rate", "[policy]") {
  DirectionPolicy p = mlab_scaled();
  WindowRing ring(p.window_ticks);
  PolicyDecision d = decide(p, ring.snapshot());
  CHECK(d.allowance_bytes == p.budget_bytes());
  CHECK(d.limit_bytes_per_second == p.budget_bytes() * 2);  // B / 0.5 s
  CHECK_FALSE(d.throttled);
  // The datapath holds it as A, and all of B that A does not carry in the tick at path speed.
  CHECK(d.rate_bytes_per_second == p.allocation_bytes_per_second);
  CHECK(d.path_speed_bytes == p.budget_bytes() - p.allocation_bytes_per_second / 2);

  ring.record(0, p.budget_bytes());  // all of B in one tick
  d = decide(p, ring.snapshot());
  CHECK(d.allowance_bytes == 0);
  CHECK(d.limit_bytes_per_second == p.min_rate_bytes_per_second);
  CHECK(d.rate_bytes_per_second == p.min_rate_bytes_per_second);
  CHECK(d.path_speed_bytes == 0);
  CHECK(d.throttled);

  ring.reset();  // an allowance below A per tick: the rate carries it all, none at path speed
  ring.record(0, p.budget_bytes() - p.allocation_bytes_per_second / 4);
  d = decide(p, ring.snapshot());
  CHECK(d.rate_bytes_per_second == p.allocation_bytes_per_second / 2);
  CHECK(d.path_speed_bytes == 0);

  p.pinned_bytes_per_second = 123456;  // a manual throttle wins over the budget
  CHECK(decide(p, ring.snapshot()).limit_bytes_per_second == 123456);
  ring.reset();
  CHECK(decide(p, ring.snapshot()).limit_bytes_per_second == 123456);
  CHECK(decide(p, ring.snapshot()).rate_bytes_per_second == 123456);
  CHECK(decide(p, ring.snapshot()).path_speed_bytes == 0);
}

TEST_CASE("min_rate 0 is a hard stop: a spent budget passes nothing until the window frees some",
          "[policy]") {
  DirectionPolicy p = mlab_scaled();
  p.min_rate_bytes_per_second = 0;
  Simulation sim(p, UINT64_MAX / 4);
  sim.step(p.budget_bytes());  // tick 0: the whole budget at once
  for (std::uint32_t i = 1; i < 2 * p.window_ticks; ++i) sim.step(UINT64_MAX);
  for (std::uint32_t i = 1; i + 1 < p.window_ticks; ++i) {
    INFO("tick " << i);
    CHECK(sim.decisions[i].limit_bytes_per_second == 0);
    CHECK(sim.decisions[i].throttled);
    CHECK(sim.passed[i] == 0);
  }
  // Once the burst's slot leaves, the budget is back, and a greedy sender spends it at once.
  CHECK(sim.passed[p.window_ticks] == p.budget_bytes());
  CHECK(sim.max_window_sum() <= p.budget_bytes());
}

TEST_CASE("a continuous sender converges to exactly the allocation", "[policy]") {
  const DirectionPolicy p = mlab_scaled();
  Simulation sim(p, p.link_rate_bytes_per_second / 2);
  for (int i = 0; i < 6 * static_cast<int>(p.window_ticks); ++i) sim.step(UINT64_MAX);
  // Over the last window the average is A (integer rounding: a few bytes per tick).
  std::uint64_t last_window = 0;
  for (std::size_t i = sim.passed.size() - p.window_ticks; i < sim.passed.size(); ++i) {
    last_window += sim.passed[i];
  }
  const double average = static_cast<double>(last_window) / 20.0;  // bytes/s over W = 20 s
  CHECK(average == Approx(static_cast<double>(p.allocation_bytes_per_second)).epsilon(0.001));
  CHECK(sim.max_window_sum() <=
        p.budget_bytes() + p.min_rate_bytes_per_second * 20);  // never above A + min_rate
}

TEST_CASE("an idle experiment bursts its whole budget at line rate", "[policy]") {
  const DirectionPolicy p = mlab_scaled();
  const std::uint64_t link = p.link_rate_bytes_per_second / 2;  // 62.5 MB per 0.5 s tick
  Simulation sim(p, link);
  std::uint64_t at_line_rate = 0;
  while (sim.tick < p.window_ticks) {
    sim.step(UINT64_MAX);
    if (sim.passed.back() != link) break;
    at_line_rate += link;
  }
  // Everything up to the last full tick before B ran at line rate, unthrottled.
  CHECK(at_line_rate >= p.budget_bytes() - link);
  CHECK(at_line_rate <= p.budget_bytes());
  for (std::size_t i = 0; i + 1 < sim.decisions.size(); ++i)
    CHECK_FALSE(sim.decisions[i].throttled);
}

TEST_CASE("release comes as soon as the burst leaves the window", "[policy]") {
  const DirectionPolicy p = mlab_scaled();
  Simulation sim(p, UINT64_MAX / 4);
  sim.step(p.budget_bytes());  // tick 0: the whole budget at once
  for (std::uint32_t i = 1; i < p.window_ticks; ++i) sim.step(UINT64_MAX);
  // Ticks 1 .. W/T − 2 ran at min_rate: the burst was still in the window.
  for (std::uint32_t i = 1; i + 1 < p.window_ticks; ++i) {
    INFO("tick " << i);
    CHECK(sim.decisions[i].throttled);
    CHECK(sim.passed[i] == sim.tick_seconds_bytes(p.min_rate_bytes_per_second));
  }
  // At the end of tick W/T − 1 the burst's slot is the one leaving: the allowance is back.
  const PolicyDecision d = sim.current();
  CHECK_FALSE(d.throttled);
  CHECK(d.allowance_bytes ==
        p.budget_bytes() -
            (p.window_ticks - 1) * sim.tick_seconds_bytes(p.min_rate_bytes_per_second));
}

TEST_CASE("no window ever exceeds A + min_rate, over thousands of random traffic patterns",
          "[policy][property]") {
  std::mt19937_64 rng(20261126);
  int patterns = 0;
  for (; patterns < 3000; ++patterns) {
    DirectionPolicy p;
    p.allocation_bytes_per_second = 1'000 + rng() % 50'000'000;
    p.tick = std::chrono::milliseconds(10 + rng() % 1000);
    p.window_ticks = 2 + static_cast<std::uint32_t>(rng() % 60);
    switch (rng() % 3) {  // 1 %, a hard stop (0), or anything up to A
      case 0:
        p.min_rate_bytes_per_second = p.allocation_bytes_per_second / 100;
        break;
      case 1:
        p.min_rate_bytes_per_second = 0;
        break;
      default:
        p.min_rate_bytes_per_second = rng() % (p.allocation_bytes_per_second + 1);
    }
    p.link_rate_bytes_per_second = p.allocation_bytes_per_second * (1 + rng() % 100);
    const auto tick_ns = static_cast<std::uint64_t>(p.tick.count());
    Simulation sim(p, p.link_rate_bytes_per_second * tick_ns / 1'000'000'000);
    // On/off phases of random length and random demand, from idle to far above the link.
    const std::uint64_t ticks = 4ULL * p.window_ticks + rng() % 200;
    while (sim.tick < ticks) {
      const std::uint64_t phase = 1 + rng() % (2 * p.window_ticks);
      const std::uint64_t demand = rng() % 3 == 0 ? 0 : rng() % (2 * sim.link_bytes_per_tick + 1);
      for (std::uint64_t i = 0; i < phase && sim.tick < ticks; ++i) sim.step(demand);
    }
    const double window_s = static_cast<double>(p.window_ticks * tick_ns) / 1e9;
    const double bound =
        static_cast<double>(p.allocation_bytes_per_second + p.min_rate_bytes_per_second) * window_s;
    INFO("pattern " << patterns << ": A=" << p.allocation_bytes_per_second
                    << " B/s, T=" << p.tick.count() << " ns, W/T=" << p.window_ticks);
    REQUIRE(static_cast<double>(sim.max_window_sum()) <= bound + 1.0);
  }
  CHECK(patterns == 3000);
}
