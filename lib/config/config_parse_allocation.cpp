// Reads an allocation ([defaults], and the allocation keys of each [[experiment]]) and checks its
// values against each other and against daemon.tick.
#include <cmath>
#include <optional>

#include "base/units.hpp"
#include "config/config_parse.hpp"

namespace enforcer::config_parse {

using std::chrono::nanoseconds;

namespace {

// cpu: a number of cores, integer or float.
void read_cpu(Parser& p, const toml::table& t, const std::string& where, Allocation& a) {
  const toml::node* n = t.get("cpu");
  if (!n) return;
  const std::string k = Parser::join(where, "cpu");
  std::optional<double> cores;
  if (n->is_integer()) cores = static_cast<double>(n->as_integer()->get());
  if (n->is_floating_point()) cores = n->as_floating_point()->get();
  if (!cores) {
    p.error(n, k,
            fmt::format("{} = {}: expected a number of cores, e.g. 1.0", k, Parser::spell(*n)));
  } else if (!(*cores > 0) || !std::isfinite(*cores) || *cores > 4096) {
    p.error(n, k, fmt::format("{} = {}: must be a number of cores above 0", k, Parser::spell(*n)));
  } else {
    a.cpu_cores = *cores;
  }
}

// min_rate: a percentage of the bandwidth ("1%") or a rate ("800Kbit").
void read_min_rate(Parser& p, const toml::table& t, const std::string& where, Allocation& a) {
  const toml::node* n = t.get("min_rate");
  if (!n) return;
  const std::string k = Parser::join(where, "min_rate");
  if (!n->is_string()) {
    p.error(n, k, fmt::format("{} = {}: expected a percentage or a rate", k, Parser::spell(*n)));
    return;
  }
  const std::string& s = n->as_string()->get();
  if (!s.empty() && s.back() == '%') {
    auto f = parse_percent(s);
    if (!f)
      p.error(n, k, fmt::format("{}: {}", k, f.error().message));
    else
      a.min_rate = MinRate{true, *f, 0};
  } else {
    auto r = parse_rate_bits(s);
    if (!r)
      p.error(n, k, fmt::format("{}: {}", k, r.error().message));
    else
      a.min_rate = MinRate{false, 0, *r};
  }
}

}  // namespace

void Parser::allocation(const toml::table& t, const std::string& where, Allocation& a) {
  read_cpu(*this, t, where, a);
  unit_value(t, where, "memory", a.memory_bytes, parse_size_bytes, true);
  unit_value(t, where, "disk", a.disk_bytes, parse_size_bytes, true);
  unit_value(t, where, "disk_io", a.disk_io_fraction, parse_percent);
  unit_value(t, where, "bandwidth", a.bandwidth_bits, parse_rate_bits);
  unit_value(t, where, "window", a.window, parse_duration);
  read_min_rate(*this, t, where, a);
}

void Parser::check_allocation(const Allocation& a, const toml::table& t, const std::string& where,
                              nanoseconds tick) {
  auto node = [&](std::string_view key) -> const toml::node* {
    const toml::node* n = t.get(key);
    return n ? n : &t;
  };
  auto written = [&](std::string_view key, const std::string& canonical) {
    const toml::node* n = t.get(key);
    const std::string k = join(where, key);
    if (n) return fmt::format("{} = {}", k, spell(*n));
    return fmt::format("{} = \"{}\" (from [defaults])", k, canonical);
  };
  if (a.bandwidth_bits < 8) {
    error(node("bandwidth"), join(where, "bandwidth"),
          fmt::format("{}: must be at least 8bit",
                      written("bandwidth", format_rate_bits(a.bandwidth_bits))));
  }
  if (a.memory_bytes == 0) {
    error(node("memory"), join(where, "memory"),
          fmt::format("{}: must be above 0", written("memory", "0")));
  }
  if (a.disk_bytes == 0) {
    error(node("disk"), join(where, "disk"),
          fmt::format("{}: must be above 0", written("disk", "0")));
  }
  if (!(a.disk_io_fraction > 0)) {
    error(node("disk_io"), join(where, "disk_io"),
          fmt::format("{}: must be above 0%", written("disk_io", "0%")));
  }
  if (const std::string problem = a.min_rate_problem(); !problem.empty()) {
    error(node("min_rate"), join(where, "min_rate"),
          fmt::format("{}: {}", written("min_rate", format_min_rate(a.min_rate)), problem));
  }
  if (a.min_rate_bits() > a.bandwidth_bits) {
    error(node("min_rate"), join(where, "min_rate"),
          fmt::format("{}: exceeds the bandwidth ({})",
                      written("min_rate", format_rate_bits(a.min_rate_bits())),
                      format_rate_bits(a.bandwidth_bits)));
  }
  if (tick.count() > 0) {
    if (a.window < 2 * tick || a.window.count() % tick.count() != 0) {
      error(node("window"), join(where, "window"),
            fmt::format("{}: must be a multiple of daemon.tick (\"{}\"), at least two ticks",
                        written("window", format_duration(a.window)), format_duration(tick)));
    } else if (a.window / tick > 86400) {
      error(node("window"), join(where, "window"),
            fmt::format("{}: holds more than 86400 ticks of \"{}\"",
                        written("window", format_duration(a.window)), format_duration(tick)));
    }
  }
}

void parse_defaults(Parser& p, const toml::table* t, Config& c) {
  if (t) {
    p.check_keys(*t, "defaults", kAllocationKeys);
    p.allocation(*t, "defaults", c.defaults);
    p.check_allocation(c.defaults, *t, "defaults", c.daemon.tick);
  } else if (c.defaults.window.count() % c.daemon.tick.count() != 0) {
    p.error_at(0, "defaults.window",
               fmt::format("the default window (\"{}\") is not a multiple of daemon.tick (\"{}\")",
                           format_duration(c.defaults.window), format_duration(c.daemon.tick)));
  }
}

}  // namespace enforcer::config_parse
