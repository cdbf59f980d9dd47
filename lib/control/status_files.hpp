// Status files for the experiments themselves: `status_dir`/<name>.json, one per configured
// experiment, replaced atomically at most once a second, which a pod can mount read-only to see
// its own budget (ndt, say, could refuse new tests while throttled instead of running them
// slowly). Each file is the EXP object `enforcerctl show NAME --json` prints
// (lib/control/control_protocol.hpp) plus:
//   "format": 1              what a reader checks first; a change that is not an addition
//                            raises it
//   "updated_unix_ns": N     when the daemon wrote it: at least every kStatusFileRefresh (10 s),
//                            so a file older than that says no daemon runs (the datapath then
//                            holds the experiment to its allocation, daemon.on_stop)
//   "tick_ns": N
// The contract is documented in docs/operations.md ("Status files").
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "base/expected.hpp"

namespace enforcer {

inline constexpr int kStatusFileFormat = 1;
// An unchanged status is written again after this long, so that its updated_unix_ns tells a
// reader the daemon still runs.
inline constexpr std::chrono::nanoseconds kStatusFileRefresh = std::chrono::seconds(10);

class StatusFiles {
 public:
  explicit StatusFiles(std::string dir) : dir_(std::move(dir)) {}

  // One pass over the configured experiments: begin(), put() each one's EXP object, end(). One
  // object at a time, so that a pass over thousands holds one, not thousands.
  void begin(std::int64_t tick_ns, std::chrono::system_clock::time_point now);
  // Writes the experiment's file when its status changed since it was last written (the time
  // aside), or when it was written kStatusFileRefresh ago or more. Creates the directory when it
  // is missing.
  void put(const std::string& name, const nlohmann::json& status);
  // Removes the <name>.json files of experiments not put in this pass (the first pass: every
  // <name>.json in the directory that is not theirs; the directory is enforcer's). Returns the
  // pass's first error (a full or read-only file system, say); what could be written is.
  Expected<void> end();

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  struct Written {
    std::size_t hash = 0;         // of the EXP dump last written
    std::int64_t updated_ns = 0;  // its updated_unix_ns
  };
  std::map<std::string, Written> written_;  // by experiment name
  std::set<std::string> seen_;              // put in this pass
  std::optional<Error> error_;              // this pass's first
  std::int64_t tick_ns_ = 0;
  std::int64_t updated_ns_ = 0;
  bool dir_ready_ = false;
  bool swept_ = false;  // a previous daemon's files of experiments gone are removed once
};

}  // namespace enforcer
