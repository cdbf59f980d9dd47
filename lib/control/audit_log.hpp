// The audit trail of every change made through the control socket: one JSON line per change
// ({"time": "2026-11-27T05:00:00Z", "uid": 0, "pid": 123, "command": "override.set",
//   "experiment": "ndt", "change": "bandwidth 100Mbit -> 2.5Gbit until ...", "reason": "..."}),
// appended to `state_dir`/audit.log and written to the daemon's log. The file is bounded: when
// an append would take it past max_bytes it is renamed to audit.log.1 (replacing the previous
// one) and a new file begun, so at most 2 × max_bytes are kept.
#pragma once

#include <cstdint>
#include <string>

#include "base/expected.hpp"

namespace enforcer {

struct AuditEntry {
  std::uint32_t uid = 0;
  std::int32_t pid = 0;
  std::string command;
  std::string experiment;  // may be empty (reload)
  std::string change;
  std::string reason;
};

class AuditLog {
 public:
  explicit AuditLog(std::string path, std::uint64_t max_bytes = 4 << 20)
      : path_(std::move(path)), max_bytes_(max_bytes) {}

  // Appends one line (with the current time) and fdatasyncs it; rotates first when needed.
  Expected<void> append(const AuditEntry& entry);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::uint64_t max_bytes_;
};

}  // namespace enforcer
