#include "reader_queue.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace enforcer {

namespace asio = boost::asio;

ReaderQueue::ReaderQueue(asio::any_io_executor executor, double share,
                         std::chrono::nanoseconds burst)
    : timer_(executor), budget_(share, burst, ReaderBudget::Clock::now()) {}

asio::awaitable<void> ReaderQueue::enter() {
  if (waiting_.empty() && !running_ &&
      budget_.wait(ReaderBudget::Clock::now()) == std::chrono::nanoseconds(0)) {
    running_ = true;
    co_return;
  }
  auto mine = std::make_shared<asio::steady_timer>(timer_.get_executor(),
                                                   asio::steady_timer::time_point::max());
  waiting_.push_back(mine);
  schedule();
  boost::system::error_code ec;
  co_await mine->async_wait(asio::redirect_error(asio::use_awaitable, ec));  // cancelled: our turn
}

void ReaderQueue::leave(std::chrono::nanoseconds spent) {
  budget_.charge(spent, ReaderBudget::Clock::now());
  running_ = false;
  schedule();
}

void ReaderQueue::schedule() {
  if (waiting_.empty() || running_ || armed_) return;
  armed_ = true;
  timer_.expires_after(budget_.wait(ReaderBudget::Clock::now()));
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    self->armed_ = false;
    if (!ec) self->release();
  });
}

void ReaderQueue::release() {
  if (waiting_.empty() || running_) return;
  if (budget_.wait(ReaderBudget::Clock::now()) > std::chrono::nanoseconds(0)) {
    schedule();
    return;
  }
  running_ = true;
  waiting_.front()->cancel();
  waiting_.pop_front();
}

}  // namespace enforcer
