// `enforcerctl top`: the status table as a live full-screen view on the terminal, refreshed every
// daemon tick (at most 10 times a second, at least every 2 s). The terminal is put in raw mode on
// the alternate screen with the cursor hidden, and restored on every way out (q, Ctrl-C,
// SIGTERM/SIGHUP/SIGINT, errors).
#pragma once

#include <chrono>

#include "client.hpp"

namespace enforcer::ctl {

// The refresh period for a daemon tick (0 or unknown: 1 s), clamped to [100 ms, 2 s].
std::chrono::milliseconds top_refresh_interval(std::chrono::nanoseconds tick);

// Runs the view until the operator quits; returns the exit status (2 when stdout is not a
// terminal, after a message on stderr).
int run_top(ControlClient& client);

}  // namespace enforcer::ctl
