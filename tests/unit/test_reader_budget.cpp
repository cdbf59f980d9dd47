#include <catch2/catch.hpp>

#include "control/reader_budget.hpp"

using enforcer::ReaderBudget;
using namespace std::chrono_literals;

TEST_CASE("readers get their share of the loop and no more", "[reader_budget]") {
  const auto t0 = ReaderBudget::Clock::time_point{} + 1h;
  ReaderBudget b(0.25, 100ms, t0);
  // The burst may be spent at once.
  CHECK(b.wait(t0) == 0ns);
  b.charge(100ms, t0);
  // Empty: the next request waits until a quarter of the time passed has paid for it.
  const auto w = b.wait(t0);
  CHECK(w > 0ns);
  CHECK(w <= 1ms);
  b.charge(50ms, t0 + w);  // a slow one, charged after it ran
  CHECK(b.wait(t0 + w) >= 199ms);
  CHECK(b.wait(t0 + w + 200ms + 1ms) == 0ns);
  // Over a long run readers that always have work get 25 % of the time: 10 s of wall time lets
  // through about 2.5 s of requests (plus the burst).
  ReaderBudget c(0.25, 100ms, t0);
  auto now = t0;
  auto spent = 0ns;
  while (now < t0 + 10s) {
    if (const auto wait = c.wait(now); wait > 0ns) {
      now += wait;
      continue;
    }
    c.charge(5ms, now);
    spent += 5ms;
    now += 5ms;
  }
  CHECK(spent >= 2400ms);
  CHECK(spent <= 2700ms);
}

TEST_CASE("saved-up loop time is bounded by the burst", "[reader_budget]") {
  const auto t0 = ReaderBudget::Clock::time_point{} + 1h;
  ReaderBudget b(0.25, 100ms, t0);
  const auto later = t0 + 1h;  // idle for an hour: still only 100 ms to spend at once
  b.charge(100ms, later);
  CHECK(b.wait(later) > 0ns);
}
