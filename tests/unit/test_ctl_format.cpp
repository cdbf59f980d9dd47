// enforcerctl's pure parts: value forms, tables, the result formatters, --until/--for/--timeout
// parsing and request building (cli/format.hpp, cli/request.hpp).
#include <catch2/catch.hpp>

#include "format.hpp"
#include "request.hpp"

using namespace enforcer::ctl;

namespace {

// One experiment as the daemon's status/show result carries it.
json experiment_json() {
  return json::parse(R"({
    "name": "ndt", "id": 1,
    "allocation": {"bandwidth_bits": 2500000000, "window_ns": 300000000000,
                   "min_rate_bits": 25000000, "cpu_cores": 1.0, "memory_bytes": 1073741824,
                   "disk_bytes": 20000000000, "disk_io_fraction": 0.1},
    "pinned_bits": 0,
    "egress": {"window_average_bits": 87340000.0, "rate_bits": 91200000, "limit_bits": 12500000,
               "throttled": true, "allowance_bytes": 1200000000, "bytes_total": 123000000000,
               "dropped_packets_total": 12},
    "ingress": {"window_average_bits": 1234567, "rate_bits": 0, "limit_bits": 0,
                "throttled": false, "allowance_bytes": 0, "bytes_total": 5000,
                "dropped_packets_total": 0},
    "pod": "kubepods.slice/pod1",
    "cpu": {"usage_cores": 0.4234, "usage_seconds_total": 1234.5,
            "throttled_seconds_total": 12.3},
    "memory": {"bytes": 432013312, "limit_bytes": 1073741824, "oom_kills_total": 0},
    "io": {"read_bytes_total": 1230000000, "write_bytes_total": 456000000},
    "disk": null,
    "overrides": [{"experiment": "ndt", "resource": "bandwidth", "value": "2.5Gbit",
                   "expires": 1795000000, "reason": "speed test campaign",
                   "set_at": 1794900000, "set_by_uid": 0}]
  })");
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("enforcerctl format: measured values have 3 significant digits in the config's units",
          "[ctl]") {
  CHECK(format_3sig(0) == "0");
  CHECK(format_3sig(0.4234) == "0.423");
  CHECK(format_3sig(1) == "1");
  CHECK(format_3sig(87.34) == "87.3");
  CHECK(format_3sig(99.96) == "100");
  CHECK(format_3sig(1234.6) == "1235");
  CHECK(format_3sig(-1) == "-");

  CHECK(format_measured_rate(87.34e6) == "87.3Mbit");
  CHECK(format_measured_rate(100e6) == "100Mbit");
  CHECK(format_measured_rate(2.5e9) == "2.5Gbit");
  CHECK(format_measured_rate(999.7e6) == "1Gbit");
  CHECK(format_measured_rate(950) == "950bit");
  CHECK(format_measured_rate(0) == "0bit");
  CHECK(format_measured_rate(12.5e6) == "12.5Mbit");

  CHECK(format_measured_bytes(512.0 * 1024 * 1024, true) == "512MiB");
  CHECK(format_measured_bytes(432013312, true) == "412MiB");
  CHECK(format_measured_bytes(12.34e9, false) == "12.3GB");
  CHECK(format_measured_bytes(100, false) == "100B");
}

TEST_CASE("enforcerctl format: remaining times", "[ctl]") {
  CHECK(format_remaining(45) == "45s");
  CHECK(format_remaining(12 * 60) == "12m");
  CHECK(format_remaining(3 * 3600 + 20 * 60 + 5) == "3h20m");
  CHECK(format_remaining(2 * 86400 + 3 * 3600) == "2d3h");
  CHECK(format_remaining(0) == "expired");
}

TEST_CASE("enforcerctl format: tables align columns and leave the last one unpadded", "[ctl]") {
  CHECK(render_table({{"A", "BB", "C"}, {"aaa", "b", "cc"}}) == "A    BB  C\naaa  b   cc\n");
  CHECK(render_table({{"X", ""}, {"xy", "z"}}) == "X\nxy  z\n");
}

TEST_CASE("enforcerctl format: status: one aligned line per experiment, unknowns as -", "[ctl]") {
  json status = {{"version", "0.3.0"},
                 {"tick_ns", 1000000000},
                 {"link_rate_bits", 10000000000ULL},
                 {"experiments", json::array({experiment_json()})}};
  json wehe = experiment_json();
  wehe["name"] = "wehe";
  wehe["cpu"] = nullptr;
  wehe["memory"] = nullptr;
  wehe["io"] = nullptr;
  wehe["egress"]["throttled"] = false;
  wehe["egress"]["window_average_bits"] = nullptr;
  status["experiments"].push_back(wehe);

  const std::string out = format_status(status);
  INFO(out);
  std::vector<std::string> lines;
  for (std::size_t start = 0; start < out.size();) {
    const std::size_t end = out.find('\n', start);
    lines.push_back(out.substr(start, end - start));
    start = end + 1;
  }
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].rfind("EXPERIMENT  BANDWIDTH", 0) == 0);
  CHECK(contains(lines[1], "ndt "));
  CHECK(contains(lines[1], "2.5Gbit"));
  CHECK(contains(lines[1], "87.3Mbit/1.23Mbit"));
  CHECK(contains(lines[1], "91.2Mbit/0bit"));
  CHECK(contains(lines[1], "THROTTLED 12.5Mbit"));
  CHECK(contains(lines[1], "0.423/1"));
  CHECK(contains(lines[1], "412MiB/1GiB"));
  CHECK(contains(lines[1], "-/20GB"));
  CHECK(contains(lines[1], "1.23GB/456MB"));
  CHECK(contains(lines[2], "wehe"));
  CHECK(contains(lines[2], "-/1.23Mbit"));
  CHECK(contains(lines[2], " no "));
  CHECK(contains(lines[2], "-/1 "));
  CHECK(contains(lines[2], "-/1GiB"));
  // Aligned: the columns start at the same offsets on every line.
  CHECK(lines[1].find("2.5Gbit") == lines[0].find("BANDWIDTH"));
  CHECK(lines[2].find("2.5Gbit") == lines[0].find("BANDWIDTH"));

  CHECK(contains(format_status(json::object()), "no experiments"));
  CHECK(contains(format_top_header(status, 0), "enforcerd 0.3.0  tick 1s  link 10Gbit"));
}

TEST_CASE("enforcerctl format: the throttled cell says which direction and by how much", "[ctl]") {
  json e = experiment_json();
  CHECK(format_throttled(e) == "THROTTLED 12.5Mbit");
  e["ingress"]["throttled"] = true;
  e["ingress"]["limit_bits"] = 3000000;
  CHECK(format_throttled(e) == "THROTTLED out 12.5Mbit in 3Mbit");
  e["egress"]["throttled"] = false;
  CHECK(format_throttled(e) == "THROTTLED in 3Mbit");
  e["ingress"]["throttled"] = false;
  CHECK(format_throttled(e) == "no");
  e["pinned_bits"] = 10000000;
  CHECK(format_throttled(e) == "THROTTLED 10Mbit (manual)");
  CHECK(format_throttled(json::object()) == "-");
}

TEST_CASE("enforcerctl format: show: allocation, network, resources and overrides", "[ctl]") {
  const std::string out = format_show(experiment_json(), 1794990000);
  INFO(out);
  CHECK(contains(out, "experiment  ndt (id 1)"));
  CHECK(contains(out, "kubepods.slice/pod1"));
  CHECK(contains(out, "window     5m"));
  CHECK(contains(out, "min_rate   25Mbit"));
  CHECK(contains(out, "disk_io    10%"));
  CHECK(contains(out, "egress"));
  CHECK(contains(out, "12 packets"));
  CHECK(contains(out, "0.423 of 1 cores"));
  CHECK(contains(out, "412MiB of 1GiB"));
  CHECK(contains(out, "disk    - (not known or not configured)"));
  CHECK(contains(out, "1.23GB read, 456MB written (limit 10% of each device)"));
  CHECK(contains(out, "bandwidth  2.5Gbit  2026-11-18T11:06:40Z (in 2h46m)"));
  CHECK(contains(out, "speed test campaign"));

  json bare = {{"name", "x"}};
  const std::string b = format_show(bare, 0);
  CHECK(contains(b, "overrides   none"));
  CHECK(contains(b, "bandwidth  -"));
}

TEST_CASE("enforcerctl format: overrides: list, set, clear", "[ctl]") {
  const json ovr = experiment_json()["overrides"][0];
  const std::string list = format_override_list(json::array({ovr}), 1794990000);
  CHECK(list.rfind("EXPERIMENT  RESOURCE   VALUE    EXPIRES", 0) == 0);
  CHECK(contains(list, "ndt         bandwidth  2.5Gbit"));
  CHECK(contains(list, "uid 0"));
  CHECK(format_override_list(json::array(), 0) == "no overrides\n");

  json forever = ovr;
  forever["expires"] = nullptr;
  CHECK(format_override(forever, 0) ==
        "ndt bandwidth = 2.5Gbit, until cleared, reason \"speed test campaign\"");
  CHECK(contains(format_override(ovr, 1795000001), "(expired)"));

  const std::string set = format_set_result({{"override", ovr}, {"replaced", nullptr}}, 0);
  CHECK(set.rfind("set: ndt bandwidth = 2.5Gbit, until 2026-11-18T11:06:40Z", 0) == 0);
  CHECK(!contains(set, "replaced"));
  CHECK(contains(format_set_result({{"override", ovr}, {"replaced", forever}}, 0),
                 "replaced: ndt bandwidth"));
  CHECK(format_cleared_result({{"cleared", json::array()}}, 0) == "nothing to clear\n");
  CHECK(format_cleared_result({{"cleared", {ovr}}}, 0).rfind("cleared: ndt bandwidth", 0) == 0);
  CHECK(format_reload_result({{"experiments", 5}}) == "reloaded: 5 experiments\n");
}

TEST_CASE("enforcerctl format: errors: message, known experiments, config errors", "[ctl]") {
  CHECK(format_error({{"code", "unknown_experiment"},
                      {"message", "unknown experiment \"ndtx\""},
                      {"known", {"ndt", "wehe"}}}) ==
        "unknown experiment \"ndtx\"; known: ndt, wehe");
  CHECK(format_error({{"code", "failed"},
                      {"message", "the configuration was rejected"},
                      {"errors", {"line 3: bad", "line 4: worse"}}}) ==
        "the configuration was rejected\n  line 3: bad\n  line 4: worse");
  CHECK(format_error({{"code", "forbidden"}}) == "forbidden");
  CHECK(format_error(json()) == "unknown error");
}

TEST_CASE("enforcerctl format: --until: RFC 3339 or Unix seconds", "[ctl]") {
  CHECK(*parse_until("1795000000") == 1795000000);
  CHECK(*parse_until("2026-11-28T12:00:00Z") == 1795867200);
  CHECK(*parse_until("2026-11-28T14:00:00+02:00") == 1795867200);
  CHECK(*parse_until("2026-11-28T06:30:00-05:30") == 1795867200);
  CHECK(*parse_until("2026-11-28t12:00:00.250z") == 1795867200);
  CHECK(*parse_until("2026-11-28 12:00:00Z") == 1795867200);
  CHECK(*parse_until("1970-01-01T00:00:00Z") == 0);
  CHECK_FALSE(parse_until("2026-11-28T12:00:00").ok());  // no zone
  CHECK(parse_until("2026-11-28T12:00:00").error().message.find("zone") != std::string::npos);
  CHECK_FALSE(parse_until("2026-02-30T12:00:00Z").ok());
  CHECK_FALSE(parse_until("2026-11-28T24:00:00Z").ok());
  CHECK_FALSE(parse_until("2026-11-28T12:00:00+2:00").ok());
  CHECK_FALSE(parse_until("2026-11-28T12:00:00Zjunk").ok());
  CHECK_FALSE(parse_until("tomorrow").ok());
  CHECK_FALSE(parse_until("").ok());
}

TEST_CASE("enforcerctl format: --for and --timeout are checked before anything is sent", "[ctl]") {
  CHECK(*check_for("24h") == "24h");
  CHECK_FALSE(check_for("24 hours").ok());
  CHECK(check_for("24 hours").error().message.rfind("--for: ", 0) == 0);
  CHECK_FALSE(check_for("0s").ok());

  CHECK(parse_timeout("5s")->count() == 5000);
  CHECK(parse_timeout("5")->count() == 5000);
  CHECK(parse_timeout("0.5")->count() == 500);
  CHECK(parse_timeout("250ms")->count() == 250);
  CHECK_FALSE(parse_timeout("0").ok());
  CHECK_FALSE(parse_timeout("soon").ok());
}

TEST_CASE("enforcerctl format: requests are protocol version 1 objects on one line", "[ctl]") {
  json req = make_request("override.set");
  req["experiment"] = "ndt";
  REQUIRE(add_expiry(req, std::string("24h"), std::nullopt).ok());
  CHECK(req == json{{"v", 1}, {"cmd", "override.set"}, {"experiment", "ndt"}, {"for", "24h"}});
  json t = make_request("throttle");
  REQUIRE(add_expiry(t, std::nullopt, std::string("2026-11-28T12:00:00Z")).ok());
  CHECK(t["until"] == 1795867200);
  CHECK_FALSE(add_expiry(t, std::string("1h"), std::string("1795867200")).ok());
  CHECK_FALSE(add_expiry(t, std::string("1 fortnight"), std::nullopt).ok());

  const std::string line = request_line(make_request("status"));
  CHECK(line == "{\"cmd\":\"status\",\"v\":1}\n");
  json weird = make_request("reload");
  weird["reason"] = std::string("bad \xff utf-8");
  CHECK(request_line(weird).back() == '\n');  // replaced, not thrown
}
