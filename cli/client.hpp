// enforcerctl's side of the control socket: newline-delimited JSON over a Unix stream socket
// (lib/control/control_protocol.hpp). Blocking, with every wait bounded by poll() and one deadline
// per exchange (connect + request + response), so a hung daemon never hangs the operator's shell.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "base/expected.hpp"
#include "base/fd.hpp"

namespace enforcer::ctl {

// The longest response line read (bytes, without the newline).
inline constexpr std::size_t kMaxResponseBytes = 16 * 1024 * 1024;

class ControlClient {
 public:
  ControlClient(std::string socket_path, std::chrono::milliseconds timeout);
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;
  ControlClient(ControlClient&&) = delete;
  ControlClient& operator=(ControlClient&&) = delete;

  // Sends `line` (one request, newline included) and returns the response line without its
  // newline. Connects first when not connected; the connection is kept for the next exchange
  // (`top`), and one that the daemon closed while idle is reopened once. Any failure closes the
  // connection; its message names the socket path and the reason, with a hint
  // ("is enforcerd running?"). Every failure here means "daemon unreachable" (exit status 3).
  Expected<std::string> exchange(std::string_view line);
  void close();

  const std::string& socket_path() const { return path_; }

 private:
  using Clock = std::chrono::steady_clock;
  // One try; sets `retry` when a connection kept from an earlier exchange turned out closed
  // before any byte of the response arrived (the daemon closed it while idle).
  Expected<std::string> attempt(std::string_view line, Clock::time_point deadline, bool reused,
                                bool& retry);
  Expected<void> connect_socket(Clock::time_point deadline);
  std::string fail(std::string_view what, int err) const;
  std::string timed_out(std::string_view what) const;

  std::string path_;
  std::chrono::milliseconds timeout_;
  Fd fd_;
  std::string buffer_;  // bytes read past the last response line
};

}  // namespace enforcer::ctl
