#include "client.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/units.hpp"

namespace enforcer::ctl {
namespace {

constexpr std::string_view kRunningHint = "is enforcerd running?";
constexpr std::string_view kAccessHint =
    "reading needs root or membership of the control group; changes need root";

// Milliseconds left until `deadline`, rounded up, for poll(); 0 when passed.
int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  const auto left =
      std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return 0;
  return left.count() > 1'000'000 ? 1'000'000 : static_cast<int>(left.count());
}

// Waits for `events` on `fd` until `deadline`: 1 ready, 0 timed out, -1 error (errno).
int wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const int ms = remaining_ms(deadline);
    if (ms == 0) return 0;
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return -1;
    if (rc > 0) return 1;
  }
}

}  // namespace

ControlClient::ControlClient(std::string socket_path, std::chrono::milliseconds timeout)
    : path_(std::move(socket_path)), timeout_(timeout) {}

ControlClient::~ControlClient() {
  close();
}

void ControlClient::close() {
  fd_.reset();
  buffer_.clear();
}

std::string ControlClient::fail(std::string_view what, int err) const {
  std::string reason = std::strerror(err);
  std::string_view hint = kRunningHint;
  if (err == ENOENT) reason = "no such socket";
  if (err == EACCES || err == EPERM) hint = kAccessHint;
  return fmt::format("{} {}: {} ({})", what, path_, reason, hint);
}

std::string ControlClient::timed_out(std::string_view what) const {
  return fmt::format("{} {}: no answer within {} ({})", what, path_, format_duration(timeout_),
                     kRunningHint);
}

Expected<void> ControlClient::connect_socket(Clock::time_point deadline) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.empty() || path_.size() >= sizeof(addr.sun_path)) {
    return Error{fmt::format("cannot connect to \"{}\": a socket path must have 1 to {} bytes",
                             path_, sizeof(addr.sun_path) - 1)};
  }
  std::memcpy(addr.sun_path, path_.data(), path_.size());
  fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd_) return Error{fail("cannot create a socket for", errno)};
  for (;;) {
    if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0)
      return {};
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN) {
      // The daemon's accept backlog is full: try again shortly, until the deadline.
      if (remaining_ms(deadline) == 0) return Error{timed_out("cannot connect to")};
      ::poll(nullptr, 0, std::min(10, remaining_ms(deadline)));
      continue;
    }
    if (err == EINPROGRESS) {
      const int ready = wait_for(fd_.get(), POLLOUT, deadline);
      if (ready == 0) return Error{timed_out("cannot connect to")};
      if (ready < 0) return Error{fail("cannot connect to", errno)};
      int so_error = 0;
      socklen_t len = sizeof(so_error);
      if (::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) so_error = errno;
      if (so_error != 0) return Error{fail("cannot connect to", so_error)};
      return {};
    }
    return Error{fail("cannot connect to", err)};
  }
}

Expected<std::string> ControlClient::attempt(std::string_view line, Clock::time_point deadline,
                                             bool reused, bool& retry) {
  retry = false;
  std::size_t sent = 0;
  while (sent < line.size()) {
    const ssize_t n = ::send(fd_.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n >= 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN) {
      const int ready = wait_for(fd_.get(), POLLOUT, deadline);
      if (ready == 0) return Error{timed_out("sending to")};
      if (ready < 0) return Error{fail("sending to", errno)};
      continue;
    }
    retry = reused && (err == EPIPE || err == ECONNRESET);
    if (err == EPIPE || err == ECONNRESET) {
      return Error{
          fmt::format("sending to {}: the daemon closed the connection ({})", path_, kRunningHint)};
    }
    return Error{fail("sending to", err)};
  }

  bool got_bytes = false;
  char chunk[65536];
  for (;;) {
    if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string response = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return response;
    }
    if (buffer_.size() > kMaxResponseBytes) {
      return Error{fmt::format("reading from {}: a response longer than {} bytes", path_,
                               kMaxResponseBytes)};
    }
    const int ready = wait_for(fd_.get(), POLLIN, deadline);
    if (ready == 0) return Error{timed_out("waiting for")};
    if (ready < 0) return Error{fail("reading from", errno)};
    const ssize_t n = ::recv(fd_.get(), chunk, sizeof(chunk), 0);
    if (n > 0) {
      got_bytes = true;
      buffer_.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    const int err = n == 0 ? 0 : errno;
    retry = reused && !got_bytes;
    if (err == 0 || err == ECONNRESET) {
      return Error{fmt::format("{}: the connection was closed without a response ({})", path_,
                               kRunningHint)};
    }
    return Error{fail("reading from", err)};
  }
}

Expected<std::string> ControlClient::exchange(std::string_view line) {
  const auto deadline = Clock::now() + timeout_;
  for (int tries = 0;; ++tries) {
    const bool reused = fd_.valid();
    if (!reused) {
      buffer_.clear();
      if (auto c = connect_socket(deadline); !c) {
        close();
        return c.error();
      }
    }
    bool retry = false;
    auto r = attempt(line, deadline, reused, retry);
    if (r) return r;
    close();
    if (!retry || tries > 0) return r;
  }
}

}  // namespace enforcer::ctl
