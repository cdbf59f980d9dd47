#include "systemd_notify.hpp"

#include <systemd/sd-daemon.h>

#include <cstring>

#include "base/log.hpp"

namespace enforcer {

namespace {

void notify(const std::string& state) {
  const int r = sd_notify(0, state.c_str());
  if (r < 0) log_warning("sd_notify({}): {}", state.substr(0, state.find('\n')), std::strerror(-r));
}

}  // namespace

SystemdNotifier::SystemdNotifier() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) watchdog_ = std::chrono::microseconds(usec);
}

void SystemdNotifier::ready(const std::string& status) {
  notify("READY=1\nSTATUS=" + status);
}

void SystemdNotifier::reloading() {
  notify("RELOADING=1");
}

void SystemdNotifier::stopping() {
  notify("STOPPING=1");
}

void SystemdNotifier::watchdog() {
  if (watchdog_.count() > 0) notify("WATCHDOG=1");
}

}  // namespace enforcer
