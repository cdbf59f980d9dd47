// The values of operators' per-experiment overrides: the resources an override may replace, how
// a value is parsed from an operator's text and written back. Shared by `enforcerctl override set`
// (lib/control/overrides.hpp) and the config's [[override]] tables (config_parse_overrides.cpp):
// one parser, so that both accept exactly the same values.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "base/expected.hpp"
#include "config/config.hpp"

namespace enforcer {

enum class Resource { kBandwidth, kWindow, kMinRate, kCpu, kMemory, kDiskIo, kDisk, kThrottle };

// Each resource's name in the protocol, the overrides file and enforcerctl's arguments.
inline constexpr std::array<std::pair<Resource, std::string_view>, 8> kResourceNames{{
    {Resource::kBandwidth, "bandwidth"},
    {Resource::kWindow, "window"},
    {Resource::kMinRate, "min_rate"},
    {Resource::kCpu, "cpu"},
    {Resource::kMemory, "memory"},
    {Resource::kDiskIo, "disk_io"},
    {Resource::kDisk, "disk"},
    {Resource::kThrottle, "throttle"},
}};

std::string_view to_string(Resource r);
std::optional<Resource> parse_resource(std::string_view name);
// The names an operator may pass to `override set` (all but "throttle"), comma-separated.
std::string_view override_resource_names();

// A parsed override value. Which field is meaningful depends on the resource:
//   bandwidth, throttle: bits (bits/s, "2.5Gbit");  window: nanoseconds ("30s", > 0);
//   min_rate: min_rate ("1%" or "800Kbit");  cpu: cores ("0.5", > 0, <= 1024);
//   memory, disk: bytes ("512MiB", > 0);  disk_io: fraction ("5%", in (0, 1]).
struct OverrideValue {
  std::uint64_t bits = 0;
  std::chrono::nanoseconds duration{0};
  MinRate min_rate;
  double number = 0;  // cpu cores, or the disk_io fraction
  std::uint64_t bytes = 0;
};

// Parses `text` for `resource`. The error names the resource, the text and the expected form.
Expected<OverrideValue> parse_override_value(Resource resource, std::string_view text);
// The shortest plain decimal that reads back as `v` (cpu cores: "0.5", "2", "0.125").
std::string format_cores(double v);
// The canonical text of a parsed value ("2.5Gbit", "30s", "1%", "0.5", "512MiB", "5%").
std::string format_override_value(Resource resource, const OverrideValue& value);

}  // namespace enforcer
