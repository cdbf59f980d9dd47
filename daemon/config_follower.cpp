#include "config_follower.hpp"

#include <algorithm>

#include "base/log.hpp"

namespace enforcer {

ConfigFollower::ConfigFollower(boost::asio::io_context& io, std::function<void()> on_change)
    : io_(io), on_change_(std::move(on_change)), settle_(io) {}

ConfigFollower::~ConfigFollower() {
  // The descriptor is the watcher's: asio must not close it too.
  if (fd_) fd_->release();
}

void ConfigFollower::follow(const ConfigInputs& inputs) {
  // The new watcher first, then what the old one saw since it was last read: a change made while
  // the configuration was being read is in one of the two.
  auto w = ConfigWatcher::create(inputs);
  const bool pending = watcher_ && watcher_->drain();
  if (fd_) {
    fd_->cancel();
    fd_->release();
  }
  fd_.reset();
  watcher_.reset();
  inputs_ = inputs;
  if (pending) changed();
  if (!w) {
    log_warning("{}: configuration changes apply on SIGHUP or enforcerctl reload only",
                w.error().message);
    return;
  }
  watcher_.emplace(std::move(*w));
  log_debug("following {} configuration file(s) in {} folder(s)", inputs.files.size(),
            watcher_->watch_count());
  fd_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, watcher_->fd());
  wait_events();
}

void ConfigFollower::wait_events() {
  ConfigWatcher* watcher = &*watcher_;
  fd_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                  [this, watcher](const boost::system::error_code& ec) {
                    // A cancelled wait, or one of a watcher since replaced by follow().
                    if (ec || !watcher_ || &*watcher_ != watcher) return;
                    if (watcher_->drain()) changed();
                    wait_events();
                  });
}

void ConfigFollower::changed() {
  const auto now = std::chrono::steady_clock::now();
  if (!first_event_) first_event_ = now;
  settle_.expires_at(std::min(now + kQuiet, *first_event_ + kMaxDelay));
  settle_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // moved by a later event
    first_event_.reset();
    on_change_();
  });
}

}  // namespace enforcer
