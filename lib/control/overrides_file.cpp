// overrides.json: an override's JSON form, the file's text both ways, and its load at start (a
// file that cannot be read is set aside, never dropped) or the keeping of rejected overrides.
#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <limits>

#include "base/json_text.hpp"
#include "base/state_file.hpp"
#include "base/time_text.hpp"
#include "control/overrides.hpp"
#include "control/overrides_internal.hpp"

namespace enforcer {
namespace {

using json = nlohmann::json;
using overrides_detail::live;

// Unix seconds that fit a system_clock time_point (nanoseconds in 64 bits) with room to spare.
constexpr std::int64_t kMaxUnixSeconds = 9'000'000'000;

// Unix seconds in [0, kMaxUnixSeconds] from a JSON integer.
std::optional<std::int64_t> unix_seconds(const json& j) {
  if (j.is_number_unsigned()) {
    const auto v = j.get<std::uint64_t>();
    if (v <= static_cast<std::uint64_t>(kMaxUnixSeconds)) return static_cast<std::int64_t>(v);
    return std::nullopt;
  }
  if (j.is_number_integer()) {
    const auto v = j.get<std::int64_t>();
    if (v >= 0 && v <= kMaxUnixSeconds) return v;
  }
  return std::nullopt;
}

const json* member(const json& j, const char* key) {
  const auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

Expected<std::string> string_field(const json& j, const char* key, bool required) {
  const json* v = member(j, key);
  if (!v || v->is_null()) {
    if (required) return Error{fmt::format("\"{}\" is missing", key)};
    return std::string{};
  }
  if (!v->is_string()) return Error{fmt::format("\"{}\" must be a string", key)};
  return v->get<std::string>();
}

std::string dump(const json& j, int indent) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

}  // namespace

Expected<std::string> keep_rejected_overrides(const std::string& path,
                                              const std::vector<Override>& rejected,
                                              WallClock::time_point now) {
  const std::string target = name_aside(path, "rejected", now);
  const auto w = write_file_atomic(target, serialize_overrides(rejected));
  if (!w) return w.error();
  return target;
}

nlohmann::json override_to_json(const Override& o) {
  json j = json::object();
  j["experiment"] = o.experiment;
  j["resource"] = std::string(to_string(o.resource));
  j["value"] = o.text.empty() ? format_override_value(o.resource, o.value) : o.text;
  j["expires"] = o.expires ? json(to_unix_seconds(*o.expires)) : json(nullptr);
  j["reason"] = o.reason;
  j["set_at"] = to_unix_seconds(o.set_at);
  j["set_by_uid"] = o.set_by_uid;
  j["source"] = std::string(to_string(o.source));
  if (o.source == OverrideSource::kConfig) {
    j["set_at"] = nullptr;  // the configuration's: reviewed where it is kept, not set here
    j["set_by_uid"] = nullptr;
    j["file"] = o.config_file;
    j["line"] = o.config_line;
  }
  return j;
}

Expected<Override> override_from_json(const nlohmann::json& j) {
  try {
    if (!j.is_object()) return Error{"an override must be a JSON object"};
    Override o;
    auto experiment = string_field(j, "experiment", true);
    if (!experiment) return experiment.error();
    if (experiment->empty()) return Error{"\"experiment\" must not be empty"};
    o.experiment = std::move(*experiment);

    auto resource = string_field(j, "resource", true);
    if (!resource) return resource.error();
    const auto r = parse_resource(*resource);
    if (!r) {
      return Error{fmt::format("\"resource\": unknown resource \"{}\" (known: {}, throttle)",
                               *resource, override_resource_names())};
    }
    o.resource = *r;

    auto text = string_field(j, "value", true);
    if (!text) return text.error();
    auto value = parse_override_value(o.resource, *text);
    if (!value) return Error{fmt::format("\"value\": {}", value.error().message)};
    o.value = *value;
    o.text = format_override_value(o.resource, o.value);

    if (const json* e = member(j, "expires"); e && !e->is_null()) {
      const auto s = unix_seconds(*e);
      if (!s) {
        return Error{
            fmt::format("\"expires\" must be null or Unix seconds from 0 to {}", kMaxUnixSeconds)};
      }
      o.expires = from_unix_seconds(*s);
    }

    auto reason = string_field(j, "reason", false);
    if (!reason) return reason.error();
    o.reason = std::move(*reason);

    const json* set_at = member(j, "set_at");
    if (!set_at) return Error{"\"set_at\" is missing"};
    const auto s = unix_seconds(*set_at);
    if (!s) {
      return Error{fmt::format("\"set_at\" must be Unix seconds from 0 to {}", kMaxUnixSeconds)};
    }
    o.set_at = from_unix_seconds(*s);

    if (const json* uid = member(j, "set_by_uid"); uid && !uid->is_null()) {
      if (!uid->is_number_unsigned() &&
          !(uid->is_number_integer() && uid->get<std::int64_t>() >= 0)) {
        return Error{"\"set_by_uid\" must be a user id (an integer >= 0)"};
      }
      const auto v = uid->get<std::uint64_t>();
      if (v > std::numeric_limits<std::uint32_t>::max()) {
        return Error{"\"set_by_uid\" must be a user id (below 2^32)"};
      }
      o.set_by_uid = static_cast<std::uint32_t>(v);
    }
    return o;
  } catch (const std::exception& e) {
    return Error{fmt::format("bad override: {}", e.what())};
  }
}

std::string serialize_overrides(const std::vector<Override>& overrides) {
  json list = json::array();
  for (const Override& o : overrides) list.push_back(override_to_json(o));
  json file = json::object();
  file["version"] = 1;
  file["overrides"] = std::move(list);
  return dump(file, 2) + "\n";
}

Expected<std::vector<Override>> parse_overrides(std::string_view text) {
  try {
    auto parsed = parse_json_text(text);
    if (!parsed) return Error{fmt::format("not valid JSON: {}", parsed.error().message)};
    const json j = std::move(*parsed);
    if (!j.is_object()) return Error{"not a JSON object with \"version\" and \"overrides\""};
    const json* version = member(j, "version");
    if (!version) return Error{"\"version\" is missing"};
    if (!version->is_number_integer()) return Error{"\"version\" must be an integer"};
    if (!version->is_number_unsigned() || version->get<std::uint64_t>() != 1) {
      return Error{fmt::format("unsupported version {} (this enforcer reads version 1)",
                               dump(*version, -1))};
    }
    const json* list = member(j, "overrides");
    if (!list) return Error{"\"overrides\" is missing"};
    if (!list->is_array()) return Error{"\"overrides\" must be an array"};
    std::vector<Override> out;
    out.reserve(list->size());
    for (std::size_t i = 0; i < list->size(); ++i) {
      auto o = override_from_json((*list)[i]);
      if (!o) return Error{fmt::format("overrides[{}]: {}", i, o.error().message)};
      for (const Override& prev : out) {
        if (prev.experiment == o->experiment && prev.resource == o->resource) {
          return Error{fmt::format("overrides[{}]: a second override of {} {}", i, o->experiment,
                                   to_string(o->resource))};
        }
      }
      out.push_back(std::move(*o));
    }
    return out;
  } catch (const std::exception& e) {
    return Error{fmt::format("cannot parse: {}", e.what())};
  }
}

LoadedOverrides load_overrides(const std::string& path, WallClock::time_point now) {
  LoadedOverrides out;
  bool missing = false;
  auto text = read_file(path, missing);
  if (missing) return out;
  std::optional<std::string> problem;
  if (!text) {
    problem = text.error().message;
  } else {
    auto parsed = parse_overrides(*text);
    if (!parsed) {
      problem = parsed.error().message;
    } else {
      for (Override& o : *parsed) {
        if (live(o, now)) out.overrides.push_back(std::move(o));
      }
      return out;
    }
  }
  auto moved = set_aside(path, now);
  if (moved) {
    out.warning =
        fmt::format("{}: {}; moved it to {} and started without overrides", path, *problem, *moved);
  } else {
    out.warning =
        fmt::format("{}: {}; {}; started without overrides (the next change will replace it)", path,
                    *problem, moved.error().message);
  }
  return out;
}

}  // namespace enforcer
