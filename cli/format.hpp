// enforcerctl's human output: pure functions from the daemon's result objects (see the comment in
// lib/control/control_protocol.hpp) to text. Nothing here does I/O or reads the clock: "now" is a
// parameter, so every form is unit-testable. Missing or null values print as "-"; a field of the
// wrong type is treated as missing, never as an exception.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/time_text.hpp"  // times print as rfc3339_utc()

namespace enforcer::ctl {

using nlohmann::json;

// Shown for a value that is unknown (null or absent).
inline constexpr std::string_view kUnknown = "-";

// A measured number rounded to 3 significant digits, without exponent or trailing zeros:
// 0.4234 -> "0.423", 87.34 -> "87.3", 1234.5 -> "1235". Negative or non-finite: "-".
std::string format_3sig(double value);
// A measured rate, 3 significant digits in the config's SI units: 87.34e6 -> "87.3Mbit".
std::string format_measured_rate(double bits_per_second);
// A measured size, 3 significant digits: binary units ("412MiB") or SI units ("12.3GB").
std::string format_measured_bytes(double bytes, bool binary);
// A remaining time, two units at most: "45s", "12m", "3h20m", "2d3h"; "expired" when <= 0.
std::string format_remaining(std::int64_t seconds);

// Rows of cells as a table: columns padded to their widest cell and separated by two spaces;
// the last column is not padded. Every line ends in '\n'.
std::string render_table(const std::vector<std::vector<std::string>>& rows);

// The status result as a table, one line per experiment (header first).
std::string format_status(const json& status);
// The "THROTTLED ..." cell of one experiment: "no", "THROTTLED 12.5Mbit" (egress),
// "THROTTLED in 3Mbit", "THROTTLED out 12.5Mbit in 3Mbit", "THROTTLED 10Mbit (manual)".
std::string format_throttled(const json& experiment);
// The one-line summary of the status result shown above the table by `top`.
std::string format_top_header(const json& status, std::int64_t now_unix_seconds);
// Everything about one experiment (the show result), overrides included.
std::string format_show(const json& experiment, std::int64_t now_unix_seconds);
// A list of overrides (OVR objects) as a table; "no overrides" when empty.
std::string format_override_list(const json& overrides, std::int64_t now_unix_seconds);
// One override in a sentence: "ndt bandwidth = 2.5Gbit until 2026-...Z (in 3h) (reason: ...)".
std::string format_override(const json& override_object, std::int64_t now_unix_seconds);
// The override.set / throttle result.
std::string format_set_result(const json& result, std::int64_t now_unix_seconds);
// The override.clear / release result.
std::string format_cleared_result(const json& result, std::int64_t now_unix_seconds);
// The reload result.
std::string format_reload_result(const json& result);
// A daemon error object as the message to print (without the program name): the message, the
// known experiments for unknown_experiment, and the config errors of a rejected reload.
std::string format_error(const json& error);

}  // namespace enforcer::ctl
