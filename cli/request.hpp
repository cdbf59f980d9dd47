// enforcerctl's requests: the protocol's request objects (lib/control/control_protocol.hpp) built
// from the command line, and the checks done before anything is sent so that a mistake gets an
// early, precise message. Pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/expected.hpp"
#include "control/control_protocol.hpp"

namespace enforcer::ctl {

using nlohmann::json;

// The protocol's constants (version, limits, resource names, error codes) are the daemon's:
// lib/control/control_protocol.hpp.

// "--until": RFC 3339 ("2026-11-28T12:00:00Z", "2026-11-28T14:00:00+02:00", fractional seconds
// ignored, 't'/'z' or a space accepted) or Unix seconds ("1795000000") -> Unix seconds.
Expected<std::int64_t> parse_until(std::string_view text);
// "--for": a duration in the config's units, > 0. Returns it unchanged when valid.
Expected<std::string> check_for(std::string_view text);
// "--timeout": a duration ("5s", "500ms") or plain seconds ("5", "0.5"), > 0.
Expected<std::chrono::milliseconds> parse_timeout(std::string_view text);

// {"v": 1, "cmd": cmd}; the caller adds the command's fields.
json make_request(std::string_view cmd);
// Adds "for" or "until" (at most one is given; the CLI enforces it) after checking them.
Expected<void> add_expiry(json& request, const std::optional<std::string>& for_text,
                          const std::optional<std::string>& until_text);

// The request as one line, newline included.
std::string request_line(const json& request);

}  // namespace enforcer::ctl
