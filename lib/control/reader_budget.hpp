// How much of the daemon's loop the readers of the control socket (every uid but root) may take:
// a token bucket of loop time. Each reader request's handling time is charged after it ran; while
// the bucket is empty the next reader request waits. Root's requests are never charged or held,
// so the tick, the watchdog and an operator's changes keep at least the rest of the loop however
// many readers pipeline requests.
#pragma once

#include <chrono>

namespace enforcer {

class ReaderBudget {
 public:
  using Clock = std::chrono::steady_clock;

  // `share` of wall time (0..1), up to `burst` saved up.
  ReaderBudget(double share, std::chrono::nanoseconds burst, Clock::time_point now)
      : share_(share), burst_(burst), tokens_(burst), last_(now) {}

  // How long a reader request must wait before it may run (zero: now).
  std::chrono::nanoseconds wait(Clock::time_point now);
  // Charges `spent` of loop time to the readers.
  void charge(std::chrono::nanoseconds spent, Clock::time_point now);

 private:
  void refill(Clock::time_point now);

  double share_;
  std::chrono::nanoseconds burst_;
  std::chrono::nanoseconds tokens_;  // may go below zero: a request is charged after it ran
  Clock::time_point last_;
};

}  // namespace enforcer
