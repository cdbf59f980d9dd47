// The systemd service protocol (sd_notify(3)): READY=1 after the first enforcement pass,
// WATCHDOG=1 from the event loop every tick, RELOADING=1 / READY=1 around a reload, STOPPING=1.
// Without NOTIFY_SOCKET (not started by systemd) every call does nothing.
#pragma once

#include <chrono>
#include <string>

namespace enforcer {

class SystemdNotifier {
 public:
  // Reads the watchdog interval systemd asks for (WATCHDOG_USEC), if any.
  SystemdNotifier();

  void ready(const std::string& status);
  void reloading();
  void stopping();
  // Pets the watchdog; call from the event loop at least every watchdog_interval() / 2.
  void watchdog();
  // 0 when systemd runs no watchdog for us.
  std::chrono::microseconds watchdog_interval() const { return watchdog_; }

 private:
  std::chrono::microseconds watchdog_{0};
};

}  // namespace enforcer
