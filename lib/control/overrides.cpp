// Override values (parsed from an operator's text, and their canonical text), how overrides
// combine with the configured allocation and are checked against it, and the OverrideSet.
#include "control/overrides.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>

#include "base/text.hpp"
#include "base/units.hpp"
#include "control/overrides_internal.hpp"

namespace enforcer {
namespace {

using overrides_detail::live;

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

// The shortest plain decimal that reads back as `v` ("0.5", "2", "0.125").
std::string format_cores(double v) {
  for (int precision = 0; precision <= 400; ++precision) {
    std::string s = fmt::format("{:.{}f}", v, precision);
    double back = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), back);
    if (ec == std::errc{} && back == v) return s;
  }
  return fmt::format("{}", v);
}

Error value_error(Resource r, std::string_view text, std::string_view expected,
                  const Error& cause) {
  return Error{
      fmt::format("{} \"{}\": expected {} ({})", to_string(r), text, expected, cause.message)};
}

Error value_error(Resource r, std::string_view text, std::string_view expected) {
  return Error{fmt::format("{} \"{}\": expected {}", to_string(r), text, expected)};
}

void apply(EffectiveAllocation& e, const Override& o) {
  Allocation& a = e.allocation;
  switch (o.resource) {
    case Resource::kBandwidth:
      a.bandwidth_bits = o.value.bits;
      break;
    case Resource::kWindow:
      a.window = o.value.duration;
      break;
    case Resource::kMinRate:
      a.min_rate = o.value.min_rate;
      break;
    case Resource::kCpu:
      a.cpu_cores = o.value.number;
      break;
    case Resource::kMemory:
      a.memory_bytes = o.value.bytes;
      break;
    case Resource::kDiskIo:
      a.disk_io_fraction = o.value.number;
      break;
    case Resource::kDisk:
      a.disk_bytes = o.value.bytes;
      break;
    case Resource::kThrottle:
      e.pinned_bits = o.value.bits;
      break;
  }
}

}  // namespace

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

std::string format_allocation_value(const EffectiveAllocation& e, Resource resource) {
  const Allocation& a = e.allocation;
  switch (resource) {
    case Resource::kBandwidth:
      return format_rate_bits(a.bandwidth_bits);
    case Resource::kWindow:
      return format_duration(a.window);
    case Resource::kMinRate:
      return format_min_rate(a.min_rate);
    case Resource::kCpu:
      return format_cores(a.cpu_cores);
    case Resource::kMemory:
      return format_size_bytes(a.memory_bytes);
    case Resource::kDisk:
      return format_size_bytes(a.disk_bytes);
    case Resource::kDiskIo:
      return format_percent(a.disk_io_fraction);
    case Resource::kThrottle:
      return e.pinned_bits == 0 ? "none" : format_rate_bits(e.pinned_bits);
  }
  return "?";
}

EffectiveAllocation effective_allocation(const Allocation& configured,
                                         const std::vector<Override>& overrides,
                                         std::string_view experiment, WallClock::time_point now) {
  EffectiveAllocation e{configured, 0};
  for (const Override& o : overrides) {
    if (o.experiment == experiment && live(o, now)) apply(e, o);
  }
  return e;
}

Expected<void> check_override(const Override& o, const EffectiveAllocation& current,
                              std::uint64_t link_rate_bits, std::chrono::nanoseconds tick) {
  const std::string text = o.text.empty() ? format_override_value(o.resource, o.value) : o.text;
  EffectiveAllocation after = current;
  apply(after, o);
  const Allocation& a = after.allocation;
  switch (o.resource) {
    case Resource::kBandwidth:
    case Resource::kThrottle:
      if (o.value.bits > link_rate_bits) {
        return Error{fmt::format("{}: {} {} is above the link rate {}", o.experiment,
                                 to_string(o.resource), text, format_rate_bits(link_rate_bits))};
      }
      if (const std::string problem = a.min_rate_problem();
          o.resource == Resource::kBandwidth && !problem.empty()) {
        return Error{fmt::format("{}: bandwidth {} makes its min_rate {}: {}", o.experiment, text,
                                 format_min_rate(a.min_rate), problem)};
      }
      if (o.resource == Resource::kBandwidth && a.min_rate_bits() > a.bandwidth_bits) {
        return Error{fmt::format("{}: bandwidth {} is below its min_rate {}", o.experiment, text,
                                 format_rate_bits(a.min_rate_bits()))};
      }
      return {};
    case Resource::kMinRate:
      if (const std::string problem = a.min_rate_problem(); !problem.empty()) {
        return Error{fmt::format("{}: min_rate {}: {}", o.experiment, text, problem)};
      }
      if (a.min_rate_bits() > a.bandwidth_bits) {
        return Error{fmt::format("{}: min_rate {} is above its bandwidth {}", o.experiment, text,
                                 format_rate_bits(a.bandwidth_bits))};
      }
      return {};
    case Resource::kWindow:
      if (tick.count() > 0) {
        if (a.window.count() % tick.count() != 0) {
          return Error{fmt::format("{}: window {} is not a whole number of ticks ({})",
                                   o.experiment, text, format_duration(tick))};
        }
        if (a.window < 2 * tick) {
          return Error{fmt::format("{}: window {} is shorter than two ticks ({} each)",
                                   o.experiment, text, format_duration(tick))};
        }
        if (a.window / tick > 86400) {
          return Error{fmt::format("{}: window {} holds more than 86400 ticks of {}", o.experiment,
                                   text, format_duration(tick))};
        }
      }
      return {};
    case Resource::kCpu:
    case Resource::kMemory:
    case Resource::kDiskIo:
    case Resource::kDisk:
      return {};
  }
  return {};
}

CheckedOverrides check_stored_overrides(const std::vector<Override>& stored, const Config& config,
                                        WallClock::time_point now) {
  std::vector<const Override*> by_time;
  for (const Override& o : stored) by_time.push_back(&o);
  std::stable_sort(by_time.begin(), by_time.end(),
                   [](const Override* a, const Override* b) { return a->set_at < b->set_at; });
  CheckedOverrides out;
  for (const Override* o : by_time) {
    const auto x = std::find_if(config.experiments.begin(), config.experiments.end(),
                                [&](const ExperimentConfig& c) { return c.name == o->experiment; });
    if (x != config.experiments.end()) {
      const EffectiveAllocation before =
          effective_allocation(x->allocation, out.kept, o->experiment, now);
      if (auto c = check_override(*o, before, config.network.link_rate_bits, config.daemon.tick);
          !c) {
        out.rejected.push_back({*o, c.error().message});
        continue;
      }
    }
    out.kept.push_back(*o);
  }
  return out;
}

std::optional<Override> OverrideSet::set(Override o) {
  for (Override& existing : all_) {
    if (existing.experiment == o.experiment && existing.resource == o.resource) {
      std::optional<Override> old = std::move(existing);
      existing = std::move(o);
      return old;
    }
  }
  all_.push_back(std::move(o));
  return std::nullopt;
}

std::vector<Override> OverrideSet::clear(std::string_view experiment,
                                         std::optional<Resource> resource) {
  std::vector<Override> removed;
  std::vector<Override> kept;
  for (Override& o : all_) {
    if (o.experiment == experiment && (!resource || o.resource == *resource)) {
      removed.push_back(std::move(o));
    } else {
      kept.push_back(std::move(o));
    }
  }
  all_ = std::move(kept);
  return removed;
}

std::vector<Override> OverrideSet::expire(WallClock::time_point now) {
  std::vector<Override> removed;
  std::vector<Override> kept;
  for (Override& o : all_) {
    if (live(o, now)) {
      kept.push_back(std::move(o));
    } else {
      removed.push_back(std::move(o));
    }
  }
  all_ = std::move(kept);
  return removed;
}

std::optional<WallClock::time_point> OverrideSet::next_expiry() const {
  std::optional<WallClock::time_point> next;
  for (const Override& o : all_) {
    if (o.expires && (!next || *o.expires < *next)) next = o.expires;
  }
  return next;
}

}  // namespace enforcer
