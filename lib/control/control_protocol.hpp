// The control protocol between enforcerctl and enforcerd: newline-delimited JSON over the Unix
// stream socket `control_socket`, one request per line, one response line per request, in order.
//
// Request (version 1). Unknown fields are an error, so a typo never silently does nothing:
//   {"v": 1, "cmd": "status"}
//   {"v": 1, "cmd": "show", "experiment": "ndt"}
//   {"v": 1, "cmd": "override.set", "experiment": "ndt", "resource": "bandwidth",
//    "value": "2.5Gbit", "for": "24h" | "until": 1795000000, "reason": "..."}
//   {"v": 1, "cmd": "override.clear", "experiment": "ndt", ["resource": "bandwidth",] "reason":
//   "..."}
//   {"v": 1, "cmd": "override.list", ["experiment": "ndt"]}
//   {"v": 1, "cmd": "throttle", "experiment": "ndt", "value": "10Mbit", ["for"|"until",] "reason":
//   "..."}
//   {"v": 1, "cmd": "release", "experiment": "ndt", "reason": "..."}
//   {"v": 1, "cmd": "reload", "reason": "..."}
//   {"v": 1, "cmd": "version"}
// Any request may carry "id" (a string or an integer), echoed in its response.
// "for" is a duration in the config's units; "until" is Unix seconds. At most one of them.
// Changes (override.set, override.clear, throttle, release, reload) need a non-empty "reason".
//
// Response:
//   {"v": 1, "ok": true, ["id": ...,] "result": {...}}
//   {"v": 1, "ok": false, ["id": ...,] "error": {"code": "...", "message": "...", ...}}
// Error codes: bad_request (not JSON, not an object, a missing, unknown or mistyped field),
// unsupported_version, unknown_command, too_large (a line over kMaxRequestBytes; the connection
// is then closed), forbidden, unknown_experiment (the error also has "known": [names]),
// unknown_resource, bad_value, failed (the daemon could not do it; the message says why).
//
// Results (all rates in bits/s, sizes in bytes, durations in ns, times in Unix seconds):
//   status: {"version": "0.3.0", "tick_ns": N, "link_rate_bits": N, "experiments": [EXP, ...]}
//   show: EXP
//   override.set, throttle: {"override": OVR, "replaced": OVR | null}
//   override.clear, release: {"cleared": [OVR, ...]}   (empty when there was nothing to clear)
//   override.list: {"overrides": [OVR, ...]}
//   reload: {"experiments": N}; a rejected config is error "failed" with "errors": ["...", ...]
//   version: {"version": "0.3.0", "protocol": 1}
// EXP = {"name": "ndt", "id": 1,
//        "allocation": {"bandwidth_bits", "window_ns", "min_rate_bits", "cpu_cores",
//                       "memory_bytes", "disk_bytes", "disk_io_fraction"},  (overrides applied)
//        "pinned_bits": N (0: not throttled by hand),
//        "egress": DIR, "ingress": DIR,
//        "pod": "kubepods/..." ("" when no pod cgroup is known),
//        "cpu": {"usage_cores", "usage_seconds_total", "throttled_seconds_total"} | null,
//        "memory": {"bytes", "limit_bytes", "oom_kills_total"} | null,
//        "io": {"read_bytes_total", "write_bytes_total"} | null,
//        "disk": {"used_bytes", "limit_bytes"} | null,      (null: not known / not configured)
//        "overrides": [OVR, ...]}
// DIR = {"window_average_bits": W-average so far, "rate_bits": over the last tick,
//        "limit_bits": the datapath's limit (0: none), "throttled": bool, "allowance_bytes",
//        "bytes_total", "dropped_packets_total"}
// OVR = override_to_json() in lib/control/overrides.hpp.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "control/overrides.hpp"

namespace enforcer {

inline constexpr int kProtocolVersion = 1;
// The longest request line accepted (bytes, without the newline).
inline constexpr std::size_t kMaxRequestBytes = 64 * 1024;

// The error codes, as sent in "error": {"code": ...} (their meanings are listed above).
namespace error_code {
inline constexpr char kBadRequest[] = "bad_request";
inline constexpr char kUnsupportedVersion[] = "unsupported_version";
inline constexpr char kUnknownCommand[] = "unknown_command";
inline constexpr char kTooLarge[] = "too_large";
inline constexpr char kForbidden[] = "forbidden";
inline constexpr char kUnknownExperiment[] = "unknown_experiment";
inline constexpr char kUnknownResource[] = "unknown_resource";
inline constexpr char kBadValue[] = "bad_value";
inline constexpr char kFailed[] = "failed";
// Every client slot is taken (lib/control/client_slots.hpp); sent before the connection closes.
inline constexpr char kBusy[] = "busy";
}  // namespace error_code

enum class Command {
  kStatus,
  kShow,
  kOverrideSet,
  kOverrideClear,
  kOverrideList,
  kThrottle,
  kRelease,
  kReload,
  kVersion
};

// "status", "show", "override.set", ...
std::string_view to_string(Command c);
// Whether the command changes the daemon's state (root only; audited; needs a reason).
bool is_change(Command c);
// The inverse of to_string(Command).
std::optional<Command> parse_command(std::string_view name);

struct Request {
  int version = kProtocolVersion;
  Command command = Command::kStatus;
  nlohmann::json id;       // null when absent
  std::string experiment;  // empty when absent
  std::optional<Resource> resource;
  std::string value;  // as sent; checked with parse_override_value by the caller
  std::optional<std::chrono::nanoseconds> for_duration;
  std::optional<std::int64_t> until_unix_seconds;
  std::string reason;
};

struct ProtocolError {
  std::string code;  // one of the codes above
  std::string message;
  nlohmann::json id;  // the request's id when it could be read, else null
};

// Parses and validates one request line (without its newline): the fields each command needs
// are present and well typed, no unknown fields, "resource" names a resource, "for" parses as a
// duration > 0. Does not know the experiments; never throws.
struct ParsedRequest {
  std::optional<Request> request;
  ProtocolError error;  // meaningful when !request
};
ParsedRequest parse_request(std::string_view line);

// One response line each, newline included.
std::string ok_response(const nlohmann::json& id, nlohmann::json result);
std::string error_response(const ProtocolError& error, nlohmann::json extra = nullptr);

}  // namespace enforcer
