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

std::string_view to_string(OverrideSource s) {
  return s == OverrideSource::kConfig ? "config" : "cli";
}

EffectiveAllocation effective_allocation(const Allocation& configured,
                                         const std::vector<Override>& overrides,
                                         std::string_view experiment, WallClock::time_point now) {
  EffectiveAllocation e{configured, 0};
  // The configuration's first, then enforcerctl's over them.
  for (const OverrideSource source : {OverrideSource::kConfig, OverrideSource::kCli}) {
    for (const Override& o : overrides) {
      if (o.source == source && o.experiment == experiment && live(o, now)) apply(e, o);
    }
  }
  return e;
}

bool override_in_force(const Override& o, const std::vector<Override>& overrides,
                       WallClock::time_point now) {
  if (!live(o, now)) return false;
  if (o.source == OverrideSource::kCli) return true;
  return std::none_of(overrides.begin(), overrides.end(), [&](const Override& other) {
    return other.source == OverrideSource::kCli && other.experiment == o.experiment &&
           other.resource == o.resource && live(other, now);
  });
}

std::vector<Override> config_overrides(const Config& config) {
  std::vector<Override> out;
  for (const ConfigOverride& c : config.overrides) {
    const auto resource = parse_resource(c.resource);
    if (!resource) continue;  // the parser refuses it
    auto value = parse_override_value(*resource, c.value);
    if (!value) continue;
    Override o;
    o.experiment = c.experiment;
    o.resource = *resource;
    o.text = c.value;
    o.value = *value;
    o.reason = c.reason;
    if (c.until_unix) {
      o.expires = WallClock::time_point(
          std::chrono::duration_cast<WallClock::duration>(std::chrono::seconds(*c.until_unix)));
    }
    o.source = OverrideSource::kConfig;
    o.config_file = c.file;
    o.config_line = c.line;
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<ConfigError> check_config_overrides(const Config& config, WallClock::time_point now) {
  std::vector<ConfigError> errors;
  std::vector<Override> kept;
  for (const Override& o : config_overrides(config)) {
    if (!live(o, now)) continue;
    const auto x = std::find_if(config.experiments.begin(), config.experiments.end(),
                                [&](const ExperimentConfig& c) { return c.name == o.experiment; });
    if (x == config.experiments.end()) continue;  // the parser refuses it
    const EffectiveAllocation before = effective_allocation(x->allocation, kept, o.experiment, now);
    if (auto c = check_override(o, before, config.network.link_rate_bits, config.daemon.tick); !c) {
      errors.push_back(
          ConfigError{o.config_file, o.config_line,
                      fmt::format("override \"{}\".{}", o.experiment, to_string(o.resource)),
                      fmt::format("override: {}", c.error().message)});
      continue;
    }
    kept.push_back(o);
  }
  return errors;
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
  // Checked against what the configuration's overrides make of the allocation.
  std::vector<Override> base = config_overrides(config);
  for (const Override* o : by_time) {
    const auto x = std::find_if(config.experiments.begin(), config.experiments.end(),
                                [&](const ExperimentConfig& c) { return c.name == o->experiment; });
    if (x != config.experiments.end()) {
      const EffectiveAllocation before =
          effective_allocation(x->allocation, base, o->experiment, now);
      if (auto c = check_override(*o, before, config.network.link_rate_bits, config.daemon.tick);
          !c) {
        out.rejected.push_back({*o, c.error().message});
        continue;
      }
    }
    out.kept.push_back(*o);
    base.push_back(*o);
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
