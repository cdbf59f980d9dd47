// enforcerctl: the operators' command line for enforcerd (status, overrides, manual throttles,
// reload, a live view). Talks the control protocol of lib/control/control_protocol.hpp over the
// control socket. Exit status: 0 ok, 1 the daemon refused or failed, 2 usage, 3 daemon unreachable.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/units.hpp"
#include "base/version.hpp"
#include "client.hpp"
#include "config/config.hpp"
#include "control/overrides.hpp"
#include "format.hpp"
#include "request.hpp"
#include "top.hpp"

namespace {

using enforcer::Error;
using enforcer::Expected;
using enforcer::ctl::json;
using namespace enforcer::ctl;

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

struct Globals {
  std::string socket = enforcer::DaemonConfig{}.control_socket;  // the config's default
  bool json = false;
  std::string timeout = "5s";
};

void print(const std::string& s) {
  std::fputs(s.c_str(), stdout);
}

void print_json(std::FILE* to, const json& j) {
  std::fprintf(to, "%s\n", j.dump(2, ' ', false, json::error_handler_t::replace).c_str());
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "enforcerctl: %s\n", message.c_str());
  return kExitUsage;
}

// The outcome of one request: the result object, or the exit status already reported.
struct Outcome {
  std::optional<json> result;
  int status = kExitOk;
};

// Sends `request` and interprets the response; reports failures (text, or the error object as
// JSON on stderr with --json) unless `quiet`.
Outcome call(ControlClient& client, const json& request, const Globals& g, bool quiet = false) {
  auto line = client.exchange(request_line(request));
  if (!line) {
    if (quiet) return {std::nullopt, kExitUnreachable};
    if (g.json) {
      print_json(stderr, json{{"code", "unreachable"}, {"message", line.error().message}});
    } else {
      std::fprintf(stderr, "enforcerctl: %s\n", line.error().message.c_str());
    }
    return {std::nullopt, kExitUnreachable};
  }
  json response = json::parse(*line, nullptr, false);
  const bool valid =
      response.is_object() && response.contains("ok") && response["ok"].is_boolean() &&
      (response["ok"].get<bool>() ? response.contains("result") : response.contains("error"));
  if (!valid) {
    if (!quiet) {
      std::fprintf(stderr, "enforcerctl: %s sent a response that is not a protocol response\n",
                   client.socket_path().c_str());
    }
    return {std::nullopt, kExitRefused};
  }
  if (!response["ok"].get<bool>()) {
    if (quiet) return {std::nullopt, kExitRefused};
    if (g.json) {
      print_json(stderr, response["error"]);
    } else {
      std::fprintf(stderr, "enforcerctl: %s\n", format_error(response["error"]).c_str());
    }
    return {std::nullopt, kExitRefused};
  }
  return {std::move(response["result"]), kExitOk};
}

// Runs `request` and prints its result with `human` (or as JSON).
int run(ControlClient& client, const json& request, const Globals& g,
        const std::function<std::string(const json&)>& human) {
  Outcome o = call(client, request, g);
  if (!o.result) return o.status;
  if (g.json) {
    print_json(stdout, *o.result);
  } else {
    print(human(*o.result));
  }
  return kExitOk;
}

// `version`: the client's version, and the daemon's when it answers (exit 0 either way).
int run_version(ControlClient& client, const Globals& g) {
  Outcome o = call(client, make_request("version"), g, /*quiet=*/true);
  if (g.json) {
    print_json(stdout,
               json{{"client",
                     {{"version", enforcer::kVersion}, {"protocol", enforcer::kProtocolVersion}}},
                    {"daemon", o.result ? *o.result : json(nullptr)}});
    return kExitOk;
  }
  std::printf("enforcerctl %s (protocol %d)\n", enforcer::kVersion, enforcer::kProtocolVersion);
  if (o.result && o.result->is_object()) {
    const json& r = *o.result;
    std::printf("enforcerd %s (protocol %s)\n",
                r.contains("version") && r["version"].is_string()
                    ? r["version"].get<std::string>().c_str()
                    : "-",
                r.contains("protocol") ? r["protocol"].dump().c_str() : "-");
  } else {
    std::printf("enforcerd: not reachable at %s\n", client.socket_path().c_str());
  }
  return kExitOk;
}

// `_experiments` (hidden, for shell completion): the experiments' names, one a line.
int run_experiment_names(ControlClient& client, const Globals& g) {
  Outcome o = call(client, make_request("status"), g, /*quiet=*/true);
  if (!o.result) return o.status;
  if (auto it = o.result->find("experiments"); it != o.result->end() && it->is_array()) {
    for (const json& e : *it) {
      if (e.is_object() && e.contains("name") && e["name"].is_string()) {
        std::printf("%s\n", e["name"].get<std::string>().c_str());
      }
    }
  }
  return kExitOk;
}

// --reason: required by CLI11, and not blank.
CLI::Option* add_reason(CLI::App* cmd, std::string& reason) {
  return cmd
      ->add_option("-r,--reason", reason,
                   "why (required for changes; written to the daemon's audit log)")
      ->required()
      ->check(CLI::Validator(
          [](const std::string& s) {
            return s.find_first_not_of(" \t\r\n") == std::string::npos
                       ? std::string("must not be empty")
                       : std::string();
          },
          "", "non-empty"));
}

struct Expiry {
  std::string for_text;
  std::string until_text;
  CLI::Option* for_opt = nullptr;
  CLI::Option* until_opt = nullptr;
};

void add_expiry_options(CLI::App* cmd, Expiry& e) {
  e.for_opt = cmd->add_option("--for", e.for_text, "expire after this duration (\"24h\", \"30m\")");
  e.until_opt = cmd->add_option(
      "--until", e.until_text,
      "expire at this time: RFC 3339 (\"2026-11-28T12:00:00Z\", \"...+02:00\") or Unix seconds");
  e.for_opt->excludes(e.until_opt);
}

// `request` with "for"/"until" added, or why they do not parse.
Expected<json> with_expiry(json request, const Expiry& e) {
  std::optional<std::string> f;
  std::optional<std::string> u;
  if (e.for_opt->count() > 0) f = e.for_text;
  if (e.until_opt->count() > 0) u = e.until_text;
  if (auto r = add_expiry(request, f, u); !r) return r.error();
  return request;
}

std::vector<std::string> resource_names(bool with_throttle) {
  std::vector<std::string> names;
  for (const auto& [resource, name] : enforcer::kResourceNames) {
    if (resource != enforcer::Resource::kThrottle || with_throttle) names.emplace_back(name);
  }
  return names;
}

std::int64_t now() {
  return std::time(nullptr);
}

// What the subcommands' options and positionals are parsed into; each subcommand uses some.
struct Args {
  std::string experiment;
  std::string resource;
  std::string value;
  std::string reason;
  Expiry set_expiry;
  Expiry throttle_expiry;
};

// A subcommand: most are one request whose result is printed; the rest (top, version,
// _experiments) do their own talking.
struct Subcommand {
  CLI::App* cmd;
  // The request from the parsed arguments, or the usage message that stops it being sent.
  std::function<Expected<json>()> request;
  std::string (*format)(const json& result) = nullptr;
  std::function<int(ControlClient&, const Globals&)> run_other;
};

// The options every subcommand takes, and --version.
void add_global_options(CLI::App& app, Globals& g) {
  app.set_version_flag("--version", std::string("enforcerctl ") + enforcer::kVersion);
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand
  app.add_option("-s,--socket", g.socket, "the daemon's control socket")
      ->envname("ENFORCER_SOCKET")
      ->capture_default_str();
  app.add_flag("-j,--json", g.json,
               "print the daemon's result as JSON (errors as the error object on stderr)");
  app.add_option("-t,--timeout", g.timeout,
                 "give up on the daemon after this long (connect, request and response)")
      ->capture_default_str();
}

// Declares the subcommands (in the order --help lists them) with what each sends and prints.
std::vector<Subcommand> add_subcommands(CLI::App& app, Args& a) {
  std::vector<Subcommand> table;

  auto* status = app.add_subcommand("status", "one line per experiment: allocation, usage, state");
  table.push_back({status,
                   [] { return Expected<json>(make_request("status")); },
                   [](const json& r) { return format_status(r); },
                   {}});

  auto* show = app.add_subcommand("show", "everything about one experiment, its overrides too");
  show->add_option("experiment", a.experiment, "experiment name")->required();
  table.push_back({show,
                   [&a]() -> Expected<json> {
                     json req = make_request("show");
                     req["experiment"] = a.experiment;
                     return req;
                   },
                   [](const json& r) { return format_show(r, now()); },
                   {}});

  auto* override_cmd = app.add_subcommand("override", "set, clear or list overrides");
  override_cmd->require_subcommand(1);
  auto* override_set =
      override_cmd->add_subcommand("set", "replace one resource of an experiment's allocation");
  override_set->add_option("experiment", a.experiment, "experiment name")->required();
  override_set->add_option("resource", a.resource, "what to override")
      ->required()
      ->check(CLI::IsMember(resource_names(false)));
  override_set->add_option("value", a.value, "the new value, in the config's units")->required();
  add_expiry_options(override_set, a.set_expiry);
  add_reason(override_set, a.reason);
  table.push_back({override_set,
                   [&a]() -> Expected<json> {
                     json req = make_request("override.set");
                     req["experiment"] = a.experiment;
                     req["resource"] = a.resource;
                     req["value"] = a.value;
                     req["reason"] = a.reason;
                     return with_expiry(std::move(req), a.set_expiry);
                   },
                   [](const json& r) { return format_set_result(r, now()); },
                   {}});

  auto* override_clear =
      override_cmd->add_subcommand("clear", "remove an experiment's override(s)");
  override_clear->add_option("experiment", a.experiment, "experiment name")->required();
  override_clear
      ->add_option("resource", a.resource, "the resource whose override goes (default: all)")
      ->check(CLI::IsMember(resource_names(true)));
  add_reason(override_clear, a.reason);
  table.push_back({override_clear,
                   [&a]() -> Expected<json> {
                     json req = make_request("override.clear");
                     req["experiment"] = a.experiment;
                     if (!a.resource.empty()) req["resource"] = a.resource;
                     req["reason"] = a.reason;
                     return req;
                   },
                   [](const json& r) { return format_cleared_result(r, now()); },
                   {}});

  auto* override_list = override_cmd->add_subcommand("list", "list the overrides in force");
  override_list->add_option("experiment", a.experiment, "only this experiment's");
  table.push_back({override_list,
                   [&a]() -> Expected<json> {
                     json req = make_request("override.list");
                     if (!a.experiment.empty()) req["experiment"] = a.experiment;
                     return req;
                   },
                   [](const json& r) {
                     return format_override_list(
                         r.is_object() && r.contains("overrides") ? r["overrides"] : json::array(),
                         now());
                   },
                   {}});

  auto* throttle = app.add_subcommand("throttle", "pin an experiment's rate (both directions)");
  throttle->add_option("experiment", a.experiment, "experiment name")->required();
  throttle->add_option("rate", a.value, "the rate, e.g. 10Mbit")->required();
  add_expiry_options(throttle, a.throttle_expiry);
  add_reason(throttle, a.reason);
  table.push_back({throttle,
                   [&a]() -> Expected<json> {
                     if (auto rate = enforcer::parse_rate_bits(a.value); !rate) {
                       return Error{"throttle: " + rate.error().message};
                     }
                     json req = make_request("throttle");
                     req["experiment"] = a.experiment;
                     req["value"] = a.value;
                     req["reason"] = a.reason;
                     return with_expiry(std::move(req), a.throttle_expiry);
                   },
                   [](const json& r) { return format_set_result(r, now()); },
                   {}});

  auto* release = app.add_subcommand("release", "end a manual throttle");
  release->add_option("experiment", a.experiment, "experiment name")->required();
  add_reason(release, a.reason);
  table.push_back({release,
                   [&a]() -> Expected<json> {
                     json req = make_request("release");
                     req["experiment"] = a.experiment;
                     req["reason"] = a.reason;
                     return req;
                   },
                   [](const json& r) { return format_cleared_result(r, now()); },
                   {}});

  auto* reload = app.add_subcommand("reload", "make the daemon read its configuration again");
  add_reason(reload, a.reason);
  table.push_back({reload,
                   [&a]() -> Expected<json> {
                     json req = make_request("reload");
                     req["reason"] = a.reason;
                     return req;
                   },
                   [](const json& r) { return format_reload_result(r); },
                   {}});

  auto* top = app.add_subcommand("top", "live full-screen status (q or Ctrl-C quits)");
  table.push_back({top, {}, nullptr, [](ControlClient& client, const Globals& g) {
                     if (g.json) return usage_error("top has no --json form; use `status --json`");
                     return run_top(client);
                   }});
  auto* version = app.add_subcommand("version", "the client's and the daemon's versions");
  table.push_back({version, {}, nullptr, run_version});
  auto* names = app.add_subcommand("_experiments", "experiment names, one a line (completion)");
  names->group("");  // hidden
  table.push_back({names, {}, nullptr, run_experiment_names});
  return table;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "enforcerctl: inspect and adjust enforcerd's per-experiment allocations.\n"
      "Exit status: 0 ok, 1 the daemon refused or failed, 2 usage, 3 daemon unreachable.",
      "enforcerctl"};
  Globals g;
  add_global_options(app, g);
  Args args;
  const std::vector<Subcommand> subcommands = add_subcommands(app, args);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  auto timeout = parse_timeout(g.timeout);
  if (!timeout) return usage_error(timeout.error().message);
  ControlClient client(g.socket, *timeout);

  for (const Subcommand& s : subcommands) {
    if (!*s.cmd) continue;
    if (s.run_other) return s.run_other(client, g);
    auto request = s.request();
    if (!request) return usage_error(request.error().message);
    return run(client, *request, g, s.format);
  }
  return usage_error("no command given (see --help)");
}
