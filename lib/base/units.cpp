#include "base/units.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>

#include "base/text.hpp"

namespace enforcer {
namespace {

constexpr std::uint64_t kKilo = 1'000;
constexpr std::uint64_t kMega = 1'000'000;
constexpr std::uint64_t kGiga = 1'000'000'000;
constexpr std::uint64_t kTera = 1'000'000'000'000;

struct Unit {
  std::string_view suffix;
  std::uint64_t multiplier;
};

constexpr std::array kRateUnits{
    Unit{"bit", 1},      Unit{"Kbit", kKilo}, Unit{"Mbit", kMega},
    Unit{"Gbit", kGiga}, Unit{"Tbit", kTera}, Unit{"kbit", kKilo},
    Unit{"mbit", kMega}, Unit{"gbit", kGiga}, Unit{"tbit", kTera},
};
constexpr std::array kSizeUnits{
    Unit{"B", 1},
    Unit{"KB", kKilo},
    Unit{"MB", kMega},
    Unit{"GB", kGiga},
    Unit{"TB", kTera},
    Unit{"KiB", 1ULL << 10},
    Unit{"MiB", 1ULL << 20},
    Unit{"GiB", 1ULL << 30},
    Unit{"TiB", 1ULL << 40},
};
constexpr std::array kDurationUnits{
    Unit{"ns", 1},    Unit{"us", kKilo},     Unit{"ms", kMega},
    Unit{"s", kGiga}, Unit{"m", 60 * kGiga}, Unit{"h", 3600 * kGiga},
};

template <std::size_t N>
std::string unit_list(const std::array<Unit, N>& units) {
  std::string out;
  for (const auto& u : units) {
    if (!out.empty()) out += ", ";
    out += u.suffix;
  }
  return out;
}

// A non-negative decimal "123", "1.5", ".5" or "2." read exactly: whole + frac / 10^scale.
// Fraction digits past kMaxScale are dropped (a 24th decimal of a unit is far below one bit, byte
// or nanosecond for every unit here); a whole part of 2^64 or more fits no value.
struct Decimal {
  unsigned __int128 whole = 0;
  unsigned __int128 frac = 0;  // below 10^kMaxScale < 2^80
  int scale = 0;
};
constexpr int kMaxScale = 24;
constexpr auto kTwoTo64 = static_cast<unsigned __int128>(1) << 64;

std::optional<Decimal> read_decimal(std::string_view digits) {
  Decimal d;
  bool seen_point = false;
  bool seen_digit = false;
  for (const char c : digits) {
    if (c == '.') {
      if (seen_point) return std::nullopt;
      seen_point = true;
      continue;
    }
    seen_digit = true;
    const auto digit = static_cast<unsigned>(c - '0');
    if (!seen_point) {
      // Saturate just above 2^64: the caller reports it as too large.
      if (d.whole < kTwoTo64) d.whole = d.whole * 10 + digit;
    } else if (d.scale < kMaxScale) {
      d.frac = d.frac * 10 + digit;
      ++d.scale;
    }
  }
  if (!seen_digit) return std::nullopt;
  return d;
}

// A non-negative decimal number followed by a unit from `units` (or no unit when
// `bare_multiplier` is non-zero). Returns the number times the unit's multiplier, rounded to the
// nearest integer (halves away from zero), computed exactly: "555555.42Tbit" is
// 555555420000000000 bits, which a double cannot hold.
template <std::size_t N>
Expected<std::uint64_t> parse_scaled(std::string_view text, const std::array<Unit, N>& units,
                                     std::string_view what, std::uint64_t bare_multiplier) {
  const std::string_view s = trim_blanks(text);
  if (s.empty()) return Error{fmt::format("\"{}\" is empty: expected a {}", text, what)};
  std::size_t end = 0;
  while (end < s.size() && ((s[end] >= '0' && s[end] <= '9') || s[end] == '.')) ++end;
  if (end == 0) {
    return Error{
        fmt::format("\"{}\" is not a {}: it must start with a non-negative number", text, what)};
  }
  const auto number = read_decimal(s.substr(0, end));
  if (!number) return Error{fmt::format("\"{}\" is not a {}: bad number", text, what)};
  const std::string_view suffix = trim_blanks(s.substr(end));
  std::uint64_t multiplier = bare_multiplier;
  if (suffix.empty()) {
    if (bare_multiplier == 0) {
      return Error{
          fmt::format("\"{}\" has no unit; a {} needs one of: {}", text, what, unit_list(units))};
    }
  } else {
    const auto* unit =
        std::find_if(units.begin(), units.end(), [&](const Unit& u) { return u.suffix == suffix; });
    if (unit == units.end()) {
      return Error{fmt::format("\"{}\": unknown {} unit \"{}\" (use one of: {})", text, what,
                               suffix, unit_list(units))};
    }
    multiplier = unit->multiplier;
  }
  const auto too_large = Error{fmt::format("\"{}\": {} too large", text, what)};
  if (number->whole >= kTwoTo64) return too_large;
  unsigned __int128 pow10 = 1;
  for (int i = 0; i < number->scale; ++i) pow10 *= 10;
  // whole < 2^64, frac < 2^80 and every multiplier < 2^42: no product reaches 2^128.
  const unsigned __int128 value =
      number->whole * multiplier + (number->frac * multiplier + pow10 / 2) / pow10;
  if (value >= kTwoTo64) return too_large;
  return static_cast<std::uint64_t>(value);
}

// Largest unit in `units` (same base) that divides `value` exactly.
template <std::size_t N>
std::string format_exact(std::uint64_t value, const std::array<Unit, N>& units) {
  Unit best = units[0];
  for (const auto& u : units) {
    if (u.multiplier > best.multiplier && value != 0 && value % u.multiplier == 0) best = u;
  }
  return fmt::format("{}{}", value / best.multiplier, best.suffix);
}

}  // namespace

Expected<std::uint64_t> parse_rate_bits(std::string_view text) {
  return parse_scaled(text, kRateUnits, "rate", 0);
}

Expected<std::uint64_t> parse_size_bytes(std::string_view text) {
  return parse_scaled(text, kSizeUnits, "size", 1);
}

Expected<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  auto ns = parse_scaled(text, kDurationUnits, "duration", 0);
  if (!ns) return ns.error();
  if (*ns > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return Error{fmt::format("\"{}\": duration too large", text)};
  }
  return std::chrono::nanoseconds(static_cast<std::int64_t>(*ns));
}

Expected<double> parse_percent(std::string_view text) {
  const std::string_view s = trim_blanks(text);
  const auto not_percent =
      Error{fmt::format("\"{}\" is not a percentage (write e.g. \"10%\")", text)};
  if (s.empty() || s.back() != '%') return not_percent;
  // A share is a fraction, not a count: a double, read with no exponent and no sign.
  const std::string_view number = trim_blanks(s.substr(0, s.size() - 1));
  if (number.empty() || number.find_first_not_of("0123456789.") != std::string_view::npos) {
    return not_percent;
  }
  double v = 0;
  const auto [ptr, ec] =
      std::from_chars(number.data(), number.data() + number.size(), v, std::chars_format::fixed);
  if (ec != std::errc{} || ptr != number.data() + number.size() || !std::isfinite(v)) {
    return not_percent;
  }
  if (v > 100.0) return Error{fmt::format("\"{}\": a percentage cannot exceed 100%", text)};
  if (v != 0 && v < kMinPercent) {
    return Error{fmt::format("\"{}\": a percentage must be 0 or at least {}%", text, kMinPercent)};
  }
  return v / 100.0;
}

std::string format_rate_bits(std::uint64_t bits_per_second) {
  // The largest SI unit in which the value needs at most three decimals: "2.5Gbit".
  constexpr std::array units{Unit{"Tbit", kTera}, Unit{"Gbit", kGiga}, Unit{"Mbit", kMega},
                             Unit{"Kbit", kKilo}};
  for (const auto& u : units) {
    const std::uint64_t mult = u.multiplier;
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
  constexpr std::array binary{Unit{"B", 1}, Unit{"KiB", 1ULL << 10}, Unit{"MiB", 1ULL << 20},
                              Unit{"GiB", 1ULL << 30}, Unit{"TiB", 1ULL << 40}};
  constexpr std::array si{Unit{"B", 1}, Unit{"KB", kKilo}, Unit{"MB", kMega}, Unit{"GB", kGiga},
                          Unit{"TB", kTera}};
  std::string b = format_exact(bytes, binary);
  std::string d = format_exact(bytes, si);
  return b.size() <= d.size() ? b : d;
}

std::string format_duration(std::chrono::nanoseconds d) {
  return format_exact(static_cast<std::uint64_t>(d.count()), kDurationUnits);
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
