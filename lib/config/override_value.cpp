// Override values: parsed from an operator's text (enforcerctl or a config file's [[override]]),
// and their canonical text.
#include "config/override_value.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "base/text.hpp"
#include "base/units.hpp"

namespace enforcer {
namespace {

constexpr double kMaxCpuCores = 1024;

// A plain decimal number of cores: digits with at most one '.', no sign, exponent, inf or nan.
Expected<double> parse_cores(std::string_view text) {
  const std::string_view s = trim_blanks(text);
  bool digit = false;
  int dots = 0;
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c == '.') {
      ++dots;
    } else {
      digit = false;
      dots = 2;
      break;
    }
  }
  double v = 0;
  if (digit && dots <= 1) {
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc{} && ptr == s.data() + s.size() && std::isfinite(v) && v > 0 &&
        v <= kMaxCpuCores) {
      return v;
    }
  }
  return Error{
      fmt::format("cpu \"{}\": expected a number of cores above 0 and at most {}, e.g. "
                  "\"0.5\"",
                  text, kMaxCpuCores)};
}

Error value_error(Resource r, std::string_view text, std::string_view expected,
                  const Error& cause) {
  return Error{
      fmt::format("{} \"{}\": expected {} ({})", to_string(r), text, expected, cause.message)};
}

Error value_error(Resource r, std::string_view text, std::string_view expected) {
  return Error{fmt::format("{} \"{}\": expected {}", to_string(r), text, expected)};
}

}  // namespace

std::string format_cores(double v) {
  for (int precision = 0; precision <= 400; ++precision) {
    std::string s = fmt::format("{:.{}f}", v, precision);
    double back = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), back);
    if (ec == std::errc{} && back == v) return s;
  }
  return fmt::format("{}", v);
}

std::string_view to_string(Resource r) {
  for (const auto& [res, name] : kResourceNames) {
    if (res == r) return name;
  }
  return "unknown";
}

std::optional<Resource> parse_resource(std::string_view name) {
  for (const auto& [res, n] : kResourceNames) {
    if (n == name) return res;
  }
  return std::nullopt;
}

std::string_view override_resource_names() {
  static const std::string names = [] {
    std::string out;
    for (const auto& [res, name] : kResourceNames) {
      if (res == Resource::kThrottle) continue;
      if (!out.empty()) out += ", ";
      out += name;
    }
    return out;
  }();
  return names;
}

namespace {

// The value as written, without the check that its canonical text reads back.
Expected<OverrideValue> parse_value(Resource resource, std::string_view text) {
  OverrideValue v;
  switch (resource) {
    case Resource::kBandwidth:
    case Resource::kThrottle: {
      auto bits = parse_rate_bits(text);
      if (!bits) return value_error(resource, text, "a rate, e.g. \"2.5Gbit\"", bits.error());
      if (*bits < kMinRateBits) return value_error(resource, text, "a rate of at least 8bit");
      v.bits = *bits;
      return v;
    }
    case Resource::kWindow: {
      auto d = parse_duration(text);
      if (!d) return value_error(resource, text, "a duration, e.g. \"5m\"", d.error());
      if (d->count() <= 0) return value_error(resource, text, "a duration above 0");
      v.duration = *d;
      return v;
    }
    case Resource::kMinRate: {
      const std::string_view s = trim_blanks(text);
      if (!s.empty() && s.back() == '%') {
        auto f = parse_percent(s);
        if (!f) {
          return value_error(resource, text, "a percentage of the bandwidth or a rate", f.error());
        }
        v.min_rate = MinRate{true, *f, 0};
      } else {
        auto r = parse_rate_bits(s);
        if (!r) {
          return value_error(resource, text,
                             "a percentage of the bandwidth (\"1%\") or a rate (\"800Kbit\")",
                             r.error());
        }
        v.min_rate = MinRate{false, 0, *r};
      }
      return v;
    }
    case Resource::kCpu: {
      auto cores = parse_cores(text);
      if (!cores) return cores.error();
      v.number = *cores;
      return v;
    }
    case Resource::kMemory:
    case Resource::kDisk: {
      auto bytes = parse_size_bytes(text);
      if (!bytes) return value_error(resource, text, "a size, e.g. \"512MiB\"", bytes.error());
      if (*bytes == 0) return value_error(resource, text, "a size above 0");
      v.bytes = *bytes;
      return v;
    }
    case Resource::kDiskIo: {
      auto f = parse_percent(text);
      if (!f) return value_error(resource, text, "a percentage, e.g. \"5%\"", f.error());
      if (!(*f > 0)) return value_error(resource, text, "a percentage above 0%");
      v.number = *f;
      return v;
    }
  }
  return Error{fmt::format("unknown resource for value \"{}\"", text)};
}

}  // namespace

std::string format_override_value(Resource resource, const OverrideValue& value) {
  switch (resource) {
    case Resource::kBandwidth:
    case Resource::kThrottle:
      return format_rate_bits(value.bits);
    case Resource::kWindow:
      return format_duration(value.duration);
    case Resource::kMinRate:
      return format_min_rate(value.min_rate);
    case Resource::kCpu:
      return format_cores(value.number);
    case Resource::kMemory:
    case Resource::kDisk:
      return format_size_bytes(value.bytes);
    case Resource::kDiskIo:
      return format_percent(value.number);
  }
  return "?";
}

Expected<OverrideValue> parse_override_value(Resource resource, std::string_view text) {
  auto v = parse_value(resource, text);
  if (!v) return v;
  // The canonical text is what the file keeps: it must read back as the same value, or the
  // override would be lost at the next start (e.g. a percentage too small to print without an
  // exponent).
  const std::string canonical = format_override_value(resource, *v);
  auto back = parse_value(resource, canonical);
  if (!back || format_override_value(resource, *back) != canonical) {
    return Error{
        fmt::format("{} \"{}\": cannot be kept exactly (it would be written as \"{}\"); "
                    "use a simpler value",
                    to_string(resource), text, canonical)};
  }
  return v;
}

}  // namespace enforcer
