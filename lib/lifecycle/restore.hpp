// A start's experiments: each configured experiment registered with the datapath and published in
// the experiment table, resuming from the window snapshot a previous run wrote
// (bandwidth/window_snapshot.hpp) when there is one. The daemon reads the file and the clocks.
#pragma once

#include <cstdint>
#include <string>

#include "bandwidth/window_snapshot.hpp"
#include "base/expected.hpp"
#include "config/config.hpp"
#include "datapath/datapath.hpp"
#include "state/experiments.hpp"

namespace enforcer {

struct RestoreInput {
  const WindowSnapshot* snapshot = nullptr;  // null: none (missing, or set aside as corrupt)
  std::string snapshot_path;                 // for the log lines
  std::uint64_t elapsed_ticks = 0;           // since the snapshot (ticks_since)
  std::uint64_t first_tick = 0;              // the sampler's tick index at start
};

// Gives `config`'s experiments their ids (the snapshot's, for those it knows, so that adopted
// counters stay their own), registers them with `datapath` (keeping an adopted id's counters only
// while the snapshot says it is the same experiment's), restores their totals and windows, prunes
// the adopted addresses nobody claimed, and publishes them in `table`. Experiments of the snapshot
// that are not configured are dropped. On an error nothing is published.
Expected<void> restore_experiments(Datapath& datapath, ExperimentTable& table, Config& config,
                                   const RestoreInput& input);

}  // namespace enforcer
