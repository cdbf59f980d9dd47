// Follows the configuration's files: a change applies without a signal. Holds the inotify watcher
// (lib/config/config_watch.hpp) on the daemon's event loop and settles bursts of events (an
// editor's several writes, a ConfigMap's swap) into one call of `on_change`: 300 ms after the
// last event, and at most 1 s after the first, so that a change applies well within 2 s.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "config/config_watch.hpp"

namespace enforcer {

class ConfigFollower {
 public:
  ConfigFollower(boost::asio::io_context& io, std::function<void()> on_change);
  ~ConfigFollower();
  // Watches `inputs` from now on (again, when a watched folder went away). A watcher that cannot
  // be made is logged: changes then apply on SIGHUP or `enforcerctl reload` only.
  void follow(const ConfigInputs& inputs);
  const ConfigInputs& inputs() const { return inputs_; }

  static constexpr std::chrono::milliseconds kQuiet{300};
  static constexpr std::chrono::milliseconds kMaxDelay{1000};

 private:
  void wait_events();
  void changed();

  boost::asio::io_context& io_;
  std::function<void()> on_change_;
  ConfigInputs inputs_;
  std::optional<ConfigWatcher> watcher_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> fd_;
  boost::asio::steady_timer settle_;
  std::optional<std::chrono::steady_clock::time_point> first_event_;
};

}  // namespace enforcer
