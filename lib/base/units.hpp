// Parsing and formatting of the config's units: rates in bits (SI), sizes in bytes (SI and
// binary), durations, and percentages. Pure functions; errors say what was expected.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/expected.hpp"

namespace enforcer {

// "100Mbit", "2.5Gbit", "800Kbit", "1000000bit" -> bits per second.
Expected<std::uint64_t> parse_rate_bits(std::string_view text);
// "1GiB", "20GB", "512MiB", "4096" (bytes) -> bytes.
Expected<std::uint64_t> parse_size_bytes(std::string_view text);
// "1s", "500ms", "5m", "1h", "1.5s" -> nanoseconds.
Expected<std::chrono::nanoseconds> parse_duration(std::string_view text);
// The smallest percentage accepted other than 0 (finer shares mean nothing on a node).
inline constexpr double kMinPercent = 0.000001;
// "10%", "0.5%" -> fraction in [0, 1]; "0%" or at least kMinPercent.
Expected<double> parse_percent(std::string_view text);

// Canonical forms, the largest unit that represents the value exactly.
std::string format_rate_bits(std::uint64_t bits_per_second);
std::string format_size_bytes(std::uint64_t bytes);
std::string format_duration(std::chrono::nanoseconds d);
std::string format_percent(double fraction);

}  // namespace enforcer
