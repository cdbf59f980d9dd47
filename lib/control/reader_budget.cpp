#include "control/reader_budget.hpp"

#include <algorithm>

namespace enforcer {

void ReaderBudget::refill(Clock::time_point now) {
  if (now <= last_) return;
  const auto earned =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double, std::nano>(
          static_cast<double>((now - last_).count()) * share_));
  tokens_ = std::min(burst_, tokens_ + earned);
  last_ = now;
}

std::chrono::nanoseconds ReaderBudget::wait(Clock::time_point now) {
  refill(now);
  if (tokens_.count() > 0) return std::chrono::nanoseconds(0);
  // Until the bucket holds something again.
  const double ns = static_cast<double>(-tokens_.count() + 1) / share_;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(ns) + 1);
}

void ReaderBudget::charge(std::chrono::nanoseconds spent, Clock::time_point now) {
  refill(now);
  tokens_ -= spent;
}

}  // namespace enforcer
