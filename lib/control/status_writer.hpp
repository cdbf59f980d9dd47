// The status files (status_files.hpp), written off the daemon's loop. Building and comparing every
// experiment's status object once a second is the loop's largest job at thousands of experiments
// (at 10,000 it took about 140 ms a second, most of a tick). The loop hands over what it alone
// knows (each experiment's effective allocation, overrides and pod: StatusInputs, rebuilt only
// when one of them changes); a thread of its own reads the live state through it, as a metrics
// scrape does, and writes the files.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/worker_thread.hpp"
#include "control/overrides.hpp"
#include "control/status_files.hpp"
#include "state/experiments.hpp"

namespace enforcer {

struct StatusInput {
  std::string name;
  std::shared_ptr<const ExperimentState> state;
  EffectiveAllocation effective;
  std::string pod;                  // empty: none found
  std::vector<Override> overrides;  // the experiment's own
};

struct StatusInputs {
  std::chrono::nanoseconds tick{0};
  std::vector<StatusInput> experiments;  // in table order
};

class StatusWriter {
 public:
  explicit StatusWriter(std::string dir) : files_(std::move(dir)) {}

  // True while no pass runs or waits: the loop hands over the next one only then.
  bool idle() const { return worker_.idle(); }
  // One pass at `now` over `inputs`: each experiment's file replaced when its status changed,
  // the files of experiments not in it removed (StatusFiles).
  void submit(std::shared_ptr<const StatusInputs> inputs,
              std::chrono::system_clock::time_point now);
  void flush() { worker_.flush(); }

  struct Stats {
    std::uint64_t passes = 0;
    std::uint64_t failed_passes = 0;  // a file could not be written or removed (logged, sparingly)
    std::chrono::nanoseconds last_duration{0};
  };
  Stats stats() const;

 private:
  void pass(const StatusInputs& inputs, std::chrono::system_clock::time_point now);

  StatusFiles files_;  // the thread's only
  mutable std::mutex mutex_;
  Stats stats_;
  WorkerThread worker_;  // last: its thread stops (running what waits) before the rest goes
};

}  // namespace enforcer
