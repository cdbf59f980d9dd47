// Once per tick: reads the datapath's cumulative counters, turns them into per-tick deltas and
// records them into each experiment's window ring and totals. Runs on the daemon's event loop;
// the only writer of the experiment state.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "datapath/datapath.hpp"
#include "state/experiments.hpp"

namespace enforcer {

// Bytes or packets since the previous reading of a cumulative counter. A counter that went
// backwards was reset (its experiment was removed and added back, or its map recreated): all of
// its current value is new.
constexpr std::uint64_t counter_delta(std::uint64_t previous, std::uint64_t current) {
  return current >= previous ? current - previous : current;
}

class Sampler {
 public:
  Sampler(Datapath& datapath, ExperimentTable& table, UnattributedTotals& unattributed)
      : datapath_(datapath), table_(table), unattributed_(unattributed) {}

  // Samples the counters as of tick index `tick` (elapsed time / tick period).
  Expected<void> sample(std::uint64_t tick);

 private:
  Datapath& datapath_;
  ExperimentTable& table_;
  UnattributedTotals& unattributed_;
  void update(ExperimentState& x, std::uint64_t tick);

  std::vector<CounterSample> raw_;  // reused: no allocation per tick
  // The set the highest id was taken from (held, so that a new set is never mistaken for it).
  std::shared_ptr<const ExperimentList> list_;
  std::uint32_t max_id_ = 0;
};

}  // namespace enforcer
