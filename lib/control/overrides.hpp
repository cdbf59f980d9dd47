// Operators' per-experiment overrides: what they are, how they combine with the configured
// allocation, and how they are kept in `state_dir` across restarts. Their values are parsed by
// lib/config/override_value.hpp (shared with the configuration's [[override]] tables, which
// become overrides of source kConfig here: config_overrides()).
//
// An override replaces one resource of one experiment's allocation (bandwidth, window, min_rate,
// cpu, memory, disk_io, disk), or pins its rate (a manual throttle, resource "throttle"), until it
// is cleared or its expiry passes. Values are written in the config's units (lib/base/units.hpp).
//
// The file (`state_dir`/overrides.json) is replaced atomically: written to a temporary file in
// the same directory, fsynced, renamed over the old one, and the directory fsynced. A file that
// cannot be read at start (torn, corrupt, unknown version) is never silently dropped: it is
// renamed aside (overrides.json.bad-<unix time>) and reported, and the daemon starts without it.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/expected.hpp"
#include "base/state_file.hpp"
#include "config/config.hpp"
#include "config/override_value.hpp"

namespace enforcer {

enum class OverrideSource { kCli, kConfig };
std::string_view to_string(OverrideSource s);  // "cli", "config"

struct Override {
  std::string experiment;
  Resource resource = Resource::kBandwidth;
  std::string text;  // the value as the operator wrote it (canonicalised: "2.5Gbit")
  OverrideValue value;
  std::optional<WallClock::time_point> expires;  // none: until cleared
  std::string reason;
  WallClock::time_point set_at;
  std::uint32_t set_by_uid = 0;
  // Where it comes from: enforcerctl (set_at and set_by_uid say when and who; stored in
  // overrides.json), or an [[override]] table of the configuration (config_file:config_line;
  // never stored: the configuration has it). One set with enforcerctl wins over one of the
  // configuration for the same experiment and resource (effective_allocation()).
  OverrideSource source = OverrideSource::kCli;
  std::string config_file;
  int config_line = 0;
};

// An experiment's allocation with its overrides applied (the expired ones ignored), plus its
// pinned rate (bits/s, 0: none). The one rule of precedence: the configured allocation, then the
// configuration's overrides, then enforcerctl's (so one set with enforcerctl wins over the
// configuration's of the same resource until it is cleared or expires). `overrides` may hold
// both sources, and other experiments' overrides.
struct EffectiveAllocation {
  Allocation allocation;
  std::uint64_t pinned_bits = 0;
};
EffectiveAllocation effective_allocation(const Allocation& configured,
                                         const std::vector<Override>& overrides,
                                         std::string_view experiment, WallClock::time_point now);
// The allocation's current value of `resource` in the same canonical form ("none" for a throttle
// when nothing is pinned), e.g. for the audit log's "bandwidth 100Mbit -> 2.5Gbit".
std::string format_allocation_value(const EffectiveAllocation& e, Resource resource);

// Checks an override against the experiment's configured allocation and the node: min_rate must
// not exceed the (effective) bandwidth, bandwidth and throttle not exceed link_rate, window must
// be a whole number of ticks and at least 2 ticks. Returns the problem in words.
Expected<void> check_override(const Override& o, const EffectiveAllocation& current,
                              std::uint64_t link_rate_bits, std::chrono::nanoseconds tick);

// Whether `o` is what holds its experiment's resource now, of `overrides` (which may hold both
// sources): it is live and no live override that wins over it (enforcerctl's, over the
// configuration's) replaces the same resource.
bool override_in_force(const Override& o, const std::vector<Override>& overrides,
                       WallClock::time_point now);

// The configuration's [[override]] tables as overrides (source kConfig), expired ones included.
// Their values were checked when the configuration was parsed.
std::vector<Override> config_overrides(const Config& config);
// Checks the configuration's overrides as enforcerctl's are checked (check_override) against the
// experiment's configured allocation with the configuration's overrides before it; an error
// names the [[override]] table's file and line. Expired ones (at `now`) are not checked.
std::vector<ConfigError> check_config_overrides(const Config& config, WallClock::time_point now);

// Stored overrides checked against the configuration in effect now (a reload may have changed
// the tick, the link rate or an allocation since they were set): replayed in the order they were
// set, each checked as `enforcerctl` input is (check_override) against the configured allocation
// and the overrides kept before it. Overrides of experiments that are not configured are kept
// unchecked; they are checked when a reload brings the experiment back.
struct RejectedOverride {
  Override override_;
  std::string problem;
};
struct CheckedOverrides {
  std::vector<Override> kept;
  std::vector<RejectedOverride> rejected;
};
CheckedOverrides check_stored_overrides(const std::vector<Override>& stored, const Config& config,
                                        WallClock::time_point now);

// The overrides set: one per (experiment, resource); setting one again replaces it.
class OverrideSet {
 public:
  OverrideSet() = default;
  explicit OverrideSet(std::vector<Override> all) : all_(std::move(all)) {}

  const std::vector<Override>& all() const { return all_; }
  // Replaces the override of the same experiment and resource; returns the one it replaced.
  std::optional<Override> set(Override o);
  // Removes the experiment's override of `resource` (all of its overrides when nullopt) and
  // returns what was removed.
  std::vector<Override> clear(std::string_view experiment, std::optional<Resource> resource);
  // Removes and returns the overrides whose expiry is at or before `now`.
  std::vector<Override> expire(WallClock::time_point now);
  // The earliest expiry, if any.
  std::optional<WallClock::time_point> next_expiry() const;

 private:
  std::vector<Override> all_;
};

// {"experiment": "ndt", "resource": "bandwidth", "value": "2.5Gbit", "expires": 1795000000 | null,
//  "reason": "...", "set_at": 1794900000, "set_by_uid": 0}: the file's and the protocol's form.
nlohmann::json override_to_json(const Override& o);
// The inverse; the error names the field. The value is parsed again (parse_override_value).
Expected<Override> override_from_json(const nlohmann::json& j);

// The file's text: {"version": 1, "overrides": [ {...}, ... ]} (JSON; times as Unix seconds).
std::string serialize_overrides(const std::vector<Override>& overrides);
// Parses the file's text; the error says what is wrong (and where, for JSON errors).
Expected<std::vector<Override>> parse_overrides(std::string_view text);

// Writes overrides the configuration no longer accepts (check_stored_overrides) to
// <path>.rejected-<unix seconds> (with "-N" added when taken); returns the name.
Expected<std::string> keep_rejected_overrides(const std::string& path,
                                              const std::vector<Override>& rejected,
                                              WallClock::time_point now);

struct LoadedOverrides {
  std::vector<Override> overrides;
  // Set when the file existed but could not be used: what was wrong, and where it was moved.
  std::optional<std::string> warning;
};
// Loads `path`: a missing file is an empty set; an unreadable one is set aside (see above).
LoadedOverrides load_overrides(const std::string& path, WallClock::time_point now);

}  // namespace enforcer
