// Where the control socket's readers (every uid but root) wait for their turn on the daemon's
// loop: in arrival order, while their share of the loop's time (lib/control/reader_budget.hpp) is
// spent. One timer serves the whole queue, so a thousand waiting readers cost no wake-ups of their
// own; each released reader runs one request, is charged what it took, and the next is released.
#pragma once

#include <utility>  // boost/asio/awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>

#include "control/reader_budget.hpp"

namespace enforcer {

class ReaderQueue : public std::enable_shared_from_this<ReaderQueue> {
 public:
  ReaderQueue(boost::asio::any_io_executor executor, double share, std::chrono::nanoseconds burst);

  // Returns when the caller may run one request. Every call must be followed by one leave(),
  // whether the request ran or not (a closed connection).
  boost::asio::awaitable<void> enter();
  void leave(std::chrono::nanoseconds spent);

 private:
  void schedule();
  void release();

  boost::asio::steady_timer timer_;
  ReaderBudget budget_;
  std::deque<std::shared_ptr<boost::asio::steady_timer>> waiting_;
  bool armed_ = false;    // timer_ runs
  bool running_ = false;  // a released reader has not left yet
};

}  // namespace enforcer
