#include "units.hpp"

#include <fmt/format.h>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>

namespace enforcer {
namespace {

struct Unit {
  std::string_view suffix;
  double multiplier;
};

constexpr std::array kRateUnits{
    Unit{"bit", 1.0},  Unit{"Kbit", 1e3}, Unit{"Mbit", 1e6}, Unit{"Gbit", 1e9},  Unit{"Tbit", 1e12},
    Unit{"kbit", 1e3}, Unit{"mbit", 1e6}, Unit{"gbit", 1e9}, Unit{"tbit", 1e12},
};
constexpr std::array kSizeUnits{
    Unit{"B", 1.0},         Unit{"KB", 1e3},           Unit{"MB", 1e6},
    Unit{"GB", 1e9},        Unit{"TB", 1e12},          Unit{"KiB", 1024.0},
    Unit{"MiB", 1048576.0}, Unit{"GiB", 1073741824.0}, Unit{"TiB", 1099511627776.0},
};
constexpr std::array kDurationUnits{
    Unit{"ns", 1.0}, Unit{"us", 1e3}, Unit{"ms", 1e6},
    Unit{"s", 1e9},  Unit{"m", 60e9}, Unit{"h", 3600e9},
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

template <std::size_t N>
std::string unit_list(const std::array<Unit, N>& units) {
  std::string out;
  for (const auto& u : units) {
    if (!out.empty()) out += ", ";
    out += u.suffix;
  }
  return out;
}

// A non-negative decimal number followed by a unit from `units` (or no unit when
// `bare_multiplier` is non-zero). Returns the number times the unit's multiplier.
template <std::size_t N>
Expected<double> parse_scaled(std::string_view text, const std::array<Unit, N>& units,
                              std::string_view what, double bare_multiplier) {
  const std::string_view s = trim(text);
  if (s.empty()) return Error{fmt::format("\"{}\" is empty: expected a {}", text, what)};
  std::size_t end = 0;
  while (end < s.size() && ((s[end] >= '0' && s[end] <= '9') || s[end] == '.')) ++end;
  if (end == 0) {
    return Error{
        fmt::format("\"{}\" is not a {}: it must start with a non-negative number", text, what)};
  }
  double number = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + end, number);
  if (ec != std::errc{} || ptr != s.data() + end || !std::isfinite(number)) {
    return Error{fmt::format("\"{}\" is not a {}: bad number", text, what)};
  }
  const std::string_view suffix = trim(s.substr(end));
  if (suffix.empty()) {
    if (bare_multiplier != 0) return number * bare_multiplier;
    return Error{
        fmt::format("\"{}\" has no unit; a {} needs one of: {}", text, what, unit_list(units))};
  }
  for (const auto& u : units) {
    if (u.suffix == suffix) return number * u.multiplier;
  }
  return Error{fmt::format("\"{}\": unknown {} unit \"{}\" (use one of: {})", text, what, suffix,
                           unit_list(units))};
}

Expected<std::uint64_t> to_u64(Expected<double> v, std::string_view text, std::string_view what) {
  if (!v) return v.error();
  // 2^64 is exactly representable; anything at or above it does not fit.
  if (*v >= 18446744073709551616.0) return Error{fmt::format("\"{}\": {} too large", text, what)};
  return static_cast<std::uint64_t>(std::llround(*v));
}

// Largest unit in `units` (same base) that divides `value` exactly.
template <std::size_t N>
std::string format_exact(std::uint64_t value, const std::array<Unit, N>& units) {
  std::string_view best = units[0].suffix;
  double best_mult = units[0].multiplier;
  for (const auto& u : units) {
    const auto mult = static_cast<std::uint64_t>(u.multiplier);
    if (u.multiplier > best_mult && mult != 0 && value % mult == 0 && value != 0) {
      best = u.suffix;
      best_mult = u.multiplier;
    }
  }
  return fmt::format("{}{}", value / static_cast<std::uint64_t>(best_mult), best);
}

}  // namespace

Expected<std::uint64_t> parse_rate_bits(std::string_view text) {
  return to_u64(parse_scaled(text, kRateUnits, "rate", 0), text, "rate");
}

Expected<std::uint64_t> parse_size_bytes(std::string_view text) {
  return to_u64(parse_scaled(text, kSizeUnits, "size", 1.0), text, "size");
}

Expected<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  auto ns = to_u64(parse_scaled(text, kDurationUnits, "duration", 0), text, "duration");
  if (!ns) return ns.error();
  if (*ns > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return Error{fmt::format("\"{}\": duration too large", text)};
  }
  return std::chrono::nanoseconds(static_cast<std::int64_t>(*ns));
}

Expected<double> parse_percent(std::string_view text) {
  const std::string_view s = trim(text);
  if (s.empty() || s.back() != '%') {
    return Error{fmt::format("\"{}\" is not a percentage (write e.g. \"10%\")", text)};
  }
  auto v = parse_scaled(s.substr(0, s.size() - 1), std::array{Unit{"", 1.0}}, "percentage", 1.0);
  if (!v) return Error{fmt::format("\"{}\" is not a percentage (write e.g. \"10%\")", text)};
  if (*v > 100.0) return Error{fmt::format("\"{}\": a percentage cannot exceed 100%", text)};
  if (*v != 0 && *v < kMinPercent) {
    return Error{fmt::format("\"{}\": a percentage must be 0 or at least {}%", text, kMinPercent)};
  }
  return *v / 100.0;
}

std::string format_rate_bits(std::uint64_t bits_per_second) {
  // The largest SI unit in which the value needs at most three decimals: "2.5Gbit".
  constexpr std::array units{Unit{"Tbit", 1e12}, Unit{"Gbit", 1e9}, Unit{"Mbit", 1e6},
                             Unit{"Kbit", 1e3}};
  for (const auto& u : units) {
    const auto mult = static_cast<std::uint64_t>(u.multiplier);
    if (bits_per_second >= mult && bits_per_second % (mult / 1000) == 0) {
      const std::uint64_t whole = bits_per_second / mult;
      std::uint64_t frac = bits_per_second % mult / (mult / 1000);
      if (frac == 0) return fmt::format("{}{}", whole, u.suffix);
      int digits = 3;
      while (frac % 10 == 0) {
        frac /= 10;
        --digits;
      }
      return fmt::format("{}.{:0{}}{}", whole, frac, digits, u.suffix);
    }
  }
  return fmt::format("{}bit", bits_per_second);
}

std::string format_size_bytes(std::uint64_t bytes) {
  constexpr std::array binary{Unit{"B", 1.0}, Unit{"KiB", 1024.0}, Unit{"MiB", 1048576.0},
                              Unit{"GiB", 1073741824.0}, Unit{"TiB", 1099511627776.0}};
  constexpr std::array si{Unit{"B", 1.0}, Unit{"KB", 1e3}, Unit{"MB", 1e6}, Unit{"GB", 1e9},
                          Unit{"TB", 1e12}};
  std::string b = format_exact(bytes, binary);
  std::string d = format_exact(bytes, si);
  return b.size() <= d.size() ? b : d;
}

std::string format_duration(std::chrono::nanoseconds d) {
  constexpr std::array units{Unit{"ns", 1.0}, Unit{"us", 1e3}, Unit{"ms", 1e6},
                             Unit{"s", 1e9},  Unit{"m", 60e9}, Unit{"h", 3600e9}};
  return format_exact(static_cast<std::uint64_t>(d.count()), units);
}

std::string format_percent(double fraction) {
  // Fixed notation (parse_percent takes no exponent) with the fewest decimals that read back to
  // the same fraction. parse_percent accepts nothing below kMinPercent but 0, so 30 decimals
  // always suffice.
  const double percent = fraction * 100.0;
  for (int decimals = 0; decimals <= 30; ++decimals) {
    std::string out = fmt::format("{:.{}f}%", percent, decimals);
    if (auto back = parse_percent(out); back && *back == fraction) return out;
  }
  return fmt::format("{:.30f}%", percent);
}

}  // namespace enforcer
