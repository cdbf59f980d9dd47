// Reads the [[override]] tables: experiment, resource, value and reason required, until optional
// (RFC 3339: a TOML offset date-time, or a string). The value is checked by the parser
// `enforcerctl override set` uses (override_value.hpp). Within one file an experiment's resource
// may be given once; a later file's replaces an earlier file's (the drop-in rule).
#include <map>
#include <utility>

#include "config/config_parse.hpp"
#include "config/override_value.hpp"

namespace enforcer::config_parse {
namespace {

// Unix seconds a system_clock time_point holds with room to spare (the overrides file's bound).
constexpr std::int64_t kMaxUntilUnix = 9'000'000'000;

// Days since 1970-01-01 of a civil date (proleptic Gregorian).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// A TOML date-time with its offset as Unix seconds; none without an offset (a local time).
std::optional<std::int64_t> unix_seconds(const toml::date_time& t) {
  if (!t.offset) return std::nullopt;
  const std::int64_t days = days_from_civil(t.date.year, t.date.month, t.date.day);
  return days * 86400 + t.time.hour * 3600 + t.time.minute * 60 + t.time.second -
         std::int64_t{t.offset->minutes} * 60;
}

// `until` written as a string (quoted, or read from an "@" file): read as a TOML date-time.
std::optional<std::int64_t> unix_seconds(const std::string& text) {
  if (text.find_first_of("\n\r=#") != std::string::npos) return std::nullopt;
  try {
    const toml::table t = toml::parse("v = " + text);
    const toml::node* v = t.get("v");
    if (t.size() != 1 || !v || !v->is_date_time()) return std::nullopt;
    return unix_seconds(v->as_date_time()->get());
  } catch (const toml::parse_error&) {
    return std::nullopt;
  }
}

}  // namespace

void parse_overrides(Parser& p, const toml::node& node, Config& c) {
  const toml::array* arr = node.as_array();
  if (!arr || !arr->is_array_of_tables()) {
    p.error(&node, "override", "override must be written as [[override]] tables");
    return;
  }
  std::map<std::string, std::size_t> experiments;
  for (std::size_t i = 0; i < c.experiments.size(); ++i) experiments[c.experiments[i].name] = i;
  // experiment and resource -> the position in c.overrides
  std::map<std::pair<std::string, std::string>, std::size_t> given;
  int index = 0;
  for (const toml::node& item : *arr) {
    const toml::table& t = *item.as_table();
    std::string where = fmt::format("override[{}]", ++index);
    p.check_keys(t, where, {"experiment", "resource", "value", "reason", "until"});
    ConfigOverride o;
    o.file = config_layers::file_of(t);
    o.line = config_layers::line_of(t);
    bool ok = true;
    for (const char* key : {"experiment", "resource", "value", "reason"}) {
      const toml::node* n = t.get(key);
      if (!n) {
        p.error(
            &t, Parser::join(where, key),
            fmt::format("{}: {} is required (experiment, resource, value, reason)", where, key));
        ok = false;
      } else if (!n->is_string() && !(std::string_view(key) == "value" &&
                                      (n->is_integer() || n->is_floating_point()))) {
        p.error(n, Parser::join(where, key),
                fmt::format("{}.{} = {}: expected a string", where, key, Parser::spell(*n)));
        ok = false;
      }
    }
    if (!ok) continue;
    o.experiment = t.get("experiment")->as_string()->get();
    where = fmt::format("override \"{}\"", o.experiment);
    if (experiments.find(o.experiment) == experiments.end()) {
      std::string known;
      for (const auto& x : c.experiments) known += (known.empty() ? "" : ", ") + x.name;
      p.error(
          t.get("experiment"), where + ".experiment",
          fmt::format("{}: no such experiment (known: {})", where, known.empty() ? "none" : known));
      ok = false;
    }
    o.resource = t.get("resource")->as_string()->get();
    const auto resource = parse_resource(o.resource);
    if (!resource) {
      p.error(t.get("resource"), where + ".resource",
              fmt::format("{}.resource = \"{}\": expected one of {}, throttle", where, o.resource,
                          override_resource_names()));
      ok = false;
    }
    const toml::node* value = t.get("value");
    const std::string text = value->is_string() ? value->as_string()->get() : Parser::spell(*value);
    if (resource) {
      auto parsed = parse_override_value(*resource, text);
      if (!parsed) {
        p.error(value, where + ".value", fmt::format("{}: {}", where, parsed.error().message));
        ok = false;
      } else {
        o.value = format_override_value(*resource, *parsed);
      }
    }
    o.reason = t.get("reason")->as_string()->get();
    if (o.reason.find_first_not_of(" \t") == std::string::npos) {
      p.error(t.get("reason"), where + ".reason",
              fmt::format("{}.reason: must not be empty", where));
      ok = false;
    }
    if (const toml::node* until = t.get("until")) {
      std::optional<std::int64_t> s;
      if (until->is_date_time()) s = unix_seconds(until->as_date_time()->get());
      if (until->is_string()) s = unix_seconds(until->as_string()->get());
      if (s && (*s < 0 || *s > kMaxUntilUnix)) s.reset();
      if (!s) {
        p.error(until, where + ".until",
                fmt::format("{}.until = {}: expected an RFC 3339 time with a zone, e.g. "
                            "2026-12-01T00:00:00Z",
                            where, Parser::spell(*until)));
        ok = false;
      }
      o.until_unix = s;
    }
    if (!ok) continue;
    const auto key = std::pair{o.experiment, o.resource};
    if (auto it = given.find(key); it != given.end()) {
      ConfigOverride& earlier = c.overrides[it->second];
      if (earlier.file == o.file) {
        p.error(&t, where,
                fmt::format("{}: {} is given twice in this file (first at line {})", where,
                            o.resource, earlier.line));
        continue;
      }
      earlier = std::move(o);  // a later file's replaces an earlier file's
      continue;
    }
    given.emplace(key, c.overrides.size());
    c.overrides.push_back(std::move(o));
  }
}

}  // namespace enforcer::config_parse
