#include "control/control_protocol.hpp"

#include <fmt/format.h>

#include <array>
#include <limits>
#include <optional>
#include <string>

#include "base/json_text.hpp"
#include "base/text.hpp"
#include "base/units.hpp"

namespace enforcer {
namespace {

using json = nlohmann::json;

// Requests are flat objects; anything nested deeper is not a request. nlohmann's parser is
// iterative, but copying, comparing and dumping a value recurse: a cheap scan keeps values of
// unbounded depth from ever being built.
constexpr int kMaxNesting = 64;

constexpr std::size_t kMaxExperimentBytes = 256;
constexpr std::size_t kMaxValueBytes = 64;
constexpr std::size_t kMaxReasonBytes = 1024;
// "until" as Unix seconds that a system_clock time_point holds (see overrides.cpp).
constexpr std::int64_t kMaxUntil = 9'000'000'000;
// "for" of up to about 100 years: now + for never overflows a time_point.
constexpr std::chrono::nanoseconds kMaxFor = std::chrono::hours(24 * 36500);

enum Field : unsigned {
  kExperiment = 1u << 0,
  kResource = 1u << 1,
  kValue = 1u << 2,
  kFor = 1u << 3,
  kUntil = 1u << 4,
  kReason = 1u << 5,
};

struct FieldName {
  Field field;
  std::string_view name;
};
constexpr std::array kFieldNames{
    FieldName{kExperiment, "experiment"}, FieldName{kResource, "resource"},
    FieldName{kValue, "value"},           FieldName{kFor, "for"},
    FieldName{kUntil, "until"},           FieldName{kReason, "reason"},
};

struct CommandSpec {
  Command command;
  std::string_view name;
  unsigned allowed;
  unsigned required;
};
constexpr std::array kCommands{
    CommandSpec{Command::kStatus, "status", 0, 0},
    CommandSpec{Command::kShow, "show", kExperiment, kExperiment},
    CommandSpec{Command::kOverrideSet, "override.set",
                kExperiment | kResource | kValue | kFor | kUntil | kReason,
                kExperiment | kResource | kValue | kReason},
    CommandSpec{Command::kOverrideClear, "override.clear", kExperiment | kResource | kReason,
                kExperiment | kReason},
    CommandSpec{Command::kOverrideList, "override.list", kExperiment, 0},
    CommandSpec{Command::kThrottle, "throttle", kExperiment | kValue | kFor | kUntil | kReason,
                kExperiment | kValue | kReason},
    CommandSpec{Command::kRelease, "release", kExperiment | kReason, kExperiment | kReason},
    CommandSpec{Command::kReload, "reload", kReason, kReason},
    CommandSpec{Command::kVersion, "version", 0, 0},
};

const CommandSpec& spec(Command c) {
  for (const auto& s : kCommands) {
    if (s.command == c) return s;
  }
  return kCommands[0];
}

std::string command_names() {
  std::string out;
  for (const auto& s : kCommands) {
    if (!out.empty()) out += ", ";
    out += s.name;
  }
  return out;
}

std::string allowed_fields(const CommandSpec& s) {
  std::string out = "v, cmd, id";
  for (const auto& f : kFieldNames) {
    if (s.allowed & f.field) fmt::format_to(std::back_inserter(out), ", {}", f.name);
  }
  return out;
}

// Whether `line` nests arrays/objects deeper than `limit` (brackets inside strings ignored).
bool nests_deeper_than(std::string_view line, int limit) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : line) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

ParsedRequest fail(std::string code, std::string message, const json& id = nullptr) {
  ParsedRequest p;
  p.error = ProtocolError{std::move(code), std::move(message), id};
  return p;
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// A phase's verdict on a request: the response to send when the request is wrong, nothing when
// the phase found it right.
using Failure = std::optional<ParsedRequest>;

ParsedRequest bad(std::string message, const json& id) {
  return fail(error_code::kBadRequest, std::move(message), id);
}

// "id" is read before anything else, so that every later error can echo it.
Failure read_id(const json& j, json& id) {
  const auto it = j.find("id");
  if (it == j.end()) return std::nullopt;
  if (!it->is_string() && !it->is_number_integer()) {
    return fail(error_code::kBadRequest,
                fmt::format("\"id\" must be a string or an integer, not {}", it->type_name()));
  }
  id = *it;
  return std::nullopt;
}

// "v" and "cmd": which table entry the rest of the request is checked against.
Failure read_command(const json& j, const json& id, const CommandSpec*& out) {
  const auto v = j.find("v");
  if (v == j.end()) return bad("\"v\" is missing: the protocol version (1)", id);
  if (!v->is_number_integer()) {
    return bad(
        fmt::format("\"v\" must be an integer (the protocol version, 1), not {}", v->type_name()),
        id);
  }
  if (!v->is_number_unsigned() || v->get<std::uint64_t>() != kProtocolVersion) {
    return fail(error_code::kUnsupportedVersion,
                fmt::format("protocol version {} is not supported (this enforcerd speaks {})",
                            dump(*v), kProtocolVersion),
                id);
  }
  const auto cmd = j.find("cmd");
  if (cmd == j.end()) {
    return bad(fmt::format("\"cmd\" is missing (one of: {})", command_names()), id);
  }
  if (!cmd->is_string()) {
    return bad(fmt::format("\"cmd\" must be a string, not {}", cmd->type_name()), id);
  }
  const auto command = parse_command(cmd->get_ref<const std::string&>());
  if (!command) {
    return fail(error_code::kUnknownCommand,
                fmt::format("unknown command \"{}\" (known: {})",
                            cmd->get_ref<const std::string&>(), command_names()),
                id);
  }
  out = &spec(*command);
  return std::nullopt;
}

// Runs before the required fields are checked: a misspelt field must be named as such, not as a
// missing one.
Failure read_field_names(const json& j, const CommandSpec& s, const json& id, unsigned& present) {
  for (const auto& [key, value] : j.items()) {
    if (key == "v" || key == "cmd" || key == "id") continue;
    unsigned field = 0;
    for (const auto& f : kFieldNames) {
      if (f.name == key) field = f.field;
    }
    if (field == 0 || !(s.allowed & field)) {
      return bad(
          fmt::format("unknown field \"{}\" for {} (allowed: {})", key, s.name, allowed_fields(s)),
          id);
    }
    present |= field;
  }
  return std::nullopt;
}

Failure read_string(const json& j, const char* key, std::size_t max_bytes, const json& id,
                    std::string& out) {
  const auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  if (!it->is_string()) {
    return bad(fmt::format("\"{}\" must be a string, not {}", key, it->type_name()), id);
  }
  const auto& str = it->get_ref<const std::string&>();
  if (str.size() > max_bytes) {
    return bad(fmt::format("\"{}\" is longer than {} bytes", key, max_bytes), id);
  }
  out = str;
  return std::nullopt;
}

// The fields whose text is only checked for type and size here and read by a later phase.
struct FieldTexts {
  std::string resource;
  std::string for_text;
  std::optional<json> until;
};

Failure read_field_types(const json& j, const json& id, Request& r, FieldTexts& t) {
  if (auto e = read_string(j, "experiment", kMaxExperimentBytes, id, r.experiment)) return e;
  if (auto e = read_string(j, "resource", kMaxValueBytes, id, t.resource)) return e;
  if (auto e = read_string(j, "value", kMaxValueBytes, id, r.value)) return e;
  if (auto e = read_string(j, "for", kMaxValueBytes, id, t.for_text)) return e;
  if (auto e = read_string(j, "reason", kMaxReasonBytes, id, r.reason)) return e;
  if (const auto it = j.find("until"); it != j.end()) {
    if (!it->is_number_integer()) {
      return bad(
          fmt::format("\"until\" must be an integer (Unix seconds), not {}", it->type_name()), id);
    }
    t.until = *it;
  }
  return std::nullopt;
}

Failure check_required(const CommandSpec& s, unsigned present, const json& id, Request& r) {
  for (const auto& f : kFieldNames) {
    if ((s.required & f.field) && !(present & f.field)) {
      return bad(fmt::format("{} needs \"{}\"", s.name, f.name), id);
    }
  }
  if ((present & kExperiment) && r.experiment.empty()) {
    return bad("\"experiment\" must not be empty", id);
  }
  if ((present & kValue) && trim(r.value).empty()) return bad("\"value\" must not be empty", id);
  if (s.allowed & kReason) {
    r.reason = std::string(trim(r.reason));
    if (r.reason.empty()) {
      return bad(
          fmt::format("{} changes the daemon: \"reason\" must say why (it is audited)", s.name),
          id);
    }
  }
  return std::nullopt;
}

Failure read_resource(const CommandSpec& s, const std::string& text, const json& id, Request& r) {
  const auto res = parse_resource(text);
  if (res == Resource::kThrottle) {
    return fail(error_code::kUnknownResource,
                fmt::format("\"throttle\" is not a resource of {}: use the throttle and release "
                            "commands",
                            s.name),
                id);
  }
  if (!res) {
    return fail(error_code::kUnknownResource,
                fmt::format("unknown resource \"{}\" (known: {})", text, override_resource_names()),
                id);
  }
  r.resource = *res;
  return std::nullopt;
}

Failure read_for(const std::string& text, const json& id, Request& r) {
  auto d = parse_duration(text);
  if (!d) return fail(error_code::kBadValue, fmt::format("\"for\": {}", d.error().message), id);
  if (d->count() <= 0) {
    return fail(error_code::kBadValue, fmt::format("\"for\" \"{}\" must be above 0", text), id);
  }
  if (*d > kMaxFor) {
    return fail(error_code::kBadValue,
                fmt::format("\"for\" \"{}\" is longer than {}", text, format_duration(kMaxFor)),
                id);
  }
  r.for_duration = *d;
  return std::nullopt;
}

Failure read_until(const json& until, const json& id, Request& r) {
  std::optional<std::int64_t> seconds;
  if (until.is_number_unsigned()) {
    if (until.get<std::uint64_t>() <= static_cast<std::uint64_t>(kMaxUntil)) {
      seconds = static_cast<std::int64_t>(until.get<std::uint64_t>());
    }
  }
  if (!seconds) {
    return fail(
        error_code::kBadValue,
        fmt::format("\"until\" {} must be Unix seconds from 0 to {}", dump(until), kMaxUntil), id);
  }
  r.until_unix_seconds = *seconds;
  return std::nullopt;
}

// The phases in the order their errors take precedence: the envelope, the field names, their
// types and sizes, the required ones, then the values.
ParsedRequest parse_object(const json& j) {
  json id = nullptr;
  if (auto e = read_id(j, id)) return *e;
  const CommandSpec* s = nullptr;
  if (auto e = read_command(j, id, s)) return *e;
  Request r;
  r.version = kProtocolVersion;
  r.command = s->command;
  r.id = id;
  unsigned present = 0;
  if (auto e = read_field_names(j, *s, id, present)) return *e;
  FieldTexts t;
  if (auto e = read_field_types(j, id, r, t)) return *e;
  if (auto e = check_required(*s, present, id, r)) return *e;
  if (present & kResource) {
    if (auto e = read_resource(*s, t.resource, id, r)) return *e;
  }
  if ((present & kFor) && (present & kUntil)) return bad("give \"for\" or \"until\", not both", id);
  if (present & kFor) {
    if (auto e = read_for(t.for_text, id, r)) return *e;
  }
  if (t.until) {
    if (auto e = read_until(*t.until, id, r)) return *e;
  }
  ParsedRequest p;
  p.request = std::move(r);
  return p;
}

}  // namespace

std::string_view to_string(Command c) {
  return spec(c).name;
}

bool is_change(Command c) {
  switch (c) {
    case Command::kOverrideSet:
    case Command::kOverrideClear:
    case Command::kThrottle:
    case Command::kRelease:
    case Command::kReload:
      return true;
    case Command::kStatus:
    case Command::kShow:
    case Command::kOverrideList:
    case Command::kVersion:
      return false;
  }
  return false;
}

std::optional<Command> parse_command(std::string_view name) {
  for (const auto& s : kCommands) {
    if (s.name == name) return s.command;
  }
  return std::nullopt;
}

ParsedRequest parse_request(std::string_view line) {
  try {
    if (line.size() > kMaxRequestBytes) {
      return fail(error_code::kTooLarge,
                  fmt::format("the request is longer than {} bytes", kMaxRequestBytes));
    }
    if (nests_deeper_than(line, kMaxNesting)) {
      return fail(error_code::kBadRequest,
                  fmt::format("not a request: nested deeper than {} levels", kMaxNesting));
    }
    auto parsed = parse_json_text(line);
    if (!parsed)
      return fail(error_code::kBadRequest,
                  fmt::format("not valid JSON: {}", parsed.error().message));
    const json j = std::move(*parsed);
    if (!j.is_object()) {
      return fail(error_code::kBadRequest,
                  fmt::format("a request must be a JSON object, not {}", j.type_name()));
    }
    return parse_object(j);
  } catch (const std::exception& e) {
    return fail(error_code::kBadRequest, fmt::format("cannot read the request: {}", e.what()));
  }
}

std::string ok_response(const nlohmann::json& id, nlohmann::json result) {
  try {
    json r = json::object();
    r["v"] = kProtocolVersion;
    r["ok"] = true;
    if (!id.is_null()) r["id"] = id;
    r["result"] = std::move(result);
    return dump(r) + "\n";
  } catch (const std::exception& e) {
    return error_response(ProtocolError{
        error_code::kFailed, fmt::format("cannot format the result: {}", e.what()), nullptr});
  }
}

std::string error_response(const ProtocolError& error, nlohmann::json extra) {
  try {
    json e = json::object();
    if (extra.is_object()) {
      for (auto& [key, value] : extra.items()) e[key] = std::move(value);
    } else if (!extra.is_null()) {
      e["detail"] = std::move(extra);
    }
    e["code"] = error.code;
    e["message"] = error.message;
    json r = json::object();
    r["v"] = kProtocolVersion;
    r["ok"] = false;
    if (!error.id.is_null()) r["id"] = error.id;
    r["error"] = std::move(e);
    return dump(r) + "\n";
  } catch (const std::exception&) {
    return "{\"error\":{\"code\":\"failed\",\"message\":\"cannot format the response\"},"
           "\"ok\":false,\"v\":1}\n";
  }
}

}  // namespace enforcer
