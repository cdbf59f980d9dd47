// The configuration's [[override]] tables: parsed with the configuration (errors at their file
// and line), checked as enforcerctl's overrides are, merged across drop-ins, and combined with
// enforcerctl's: the CLI wins for the same resource until it is cleared or expires; an expired
// config override is ignored. Their JSON and enforcerctl's list name the source.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "config_files_test_support.hpp"
#include "control/overrides.hpp"
#include "format.hpp"
#include "overrides_test_support.hpp"

using namespace enforcer;
using namespace enforcer::test;
using Catch::Matchers::Contains;

namespace {

constexpr const char* kBase = R"([[experiment]]
name = "a"
addresses = ["198.18.0.10"]

[[experiment]]
name = "b"
addresses = ["198.18.0.20"]
)";

ConfigResult parse(const std::string& overrides) {
  return parse_config(std::string(kBase) + overrides, "main.toml");
}

ConfigError only_error(const std::string& overrides) {
  const ConfigResult r = parse(overrides);
  INFO(describe_errors(r));
  REQUIRE(r.errors.size() == 1);
  return r.errors[0];
}

Override cli(std::string experiment, Resource r, std::string text,
             std::optional<WallClock::time_point> expires = std::nullopt) {
  return make(std::move(experiment), r, std::move(text), expires);
}

}  // namespace

TEST_CASE("[[override]] tables are read with the configuration", "[config][overrides]") {
  const ConfigResult r = parse(R"(
[[override]]
experiment = "a"
resource = "bandwidth"
value = "10Mbit"
reason = "ticket 7"
until = 2030-01-01T00:00:00Z

[[override]]
experiment = "b"
resource = "cpu"
value = 0.5
reason = "noisy"

[[override]]
experiment = "b"
resource = "throttle"
value = "5Mbit"
reason = "abuse"
until = "2030-01-01T01:00:00+01:00"
)");
  INFO(describe_errors(r));
  REQUIRE(r.config);
  const auto& o = r.config->overrides;
  REQUIRE(o.size() == 3);
  CHECK(o[0].experiment == "a");
  CHECK(o[0].resource == "bandwidth");
  CHECK(o[0].value == "10Mbit");
  CHECK(o[0].reason == "ticket 7");
  CHECK(o[0].until_unix == 1893456000);
  CHECK(o[0].file == "main.toml");
  CHECK(o[0].line == 9);
  CHECK(o[1].value == "0.5");
  CHECK_FALSE(o[1].until_unix);
  CHECK(o[2].until_unix == 1893456000);  // the offset applied

  const std::vector<Override> as = config_overrides(*r.config);
  REQUIRE(as.size() == 3);
  CHECK(as[0].source == OverrideSource::kConfig);
  CHECK(as[0].config_file == "main.toml");
  CHECK(as[0].config_line == 9);
  CHECK(as[0].value.bits == 10'000'000);
  CHECK(as[0].expires == at(1893456000));
  CHECK(check_config_overrides(*r.config, at(1'800'000'000)).empty());
}

TEST_CASE("[[override]] errors name the file, the line and the problem", "[config][overrides]") {
  SECTION("a missing key") {
    const ConfigError e = only_error(R"(
[[override]]
experiment = "a"
resource = "bandwidth"
value = "10Mbit"
)");
    CHECK(e.source == "main.toml");
    CHECK(e.line == 9);
    CHECK_THAT(e.message, Contains("reason is required"));
  }
  SECTION("a bad value: enforcerctl's own message") {
    const ConfigError e = only_error(R"(
[[override]]
experiment = "a"
resource = "bandwidth"
value = "10Mbps"
reason = "x"
)");
    CHECK(e.line == 12);
    CHECK_THAT(e.message, Contains("bandwidth \"10Mbps\": expected a rate"));
    CHECK(only_error("[[override]]\nexperiment = \"a\"\nresource = \"cpu\"\nvalue = \"-1\"\n"
                     "reason = \"x\"\n")
              .line == 11);
  }
  SECTION("an unknown resource") {
    const ConfigError e = only_error(R"(
[[override]]
experiment = "a"
resource = "bandwith"
value = "10Mbit"
reason = "x"
)");
    CHECK(e.line == 11);
    CHECK_THAT(e.message, Contains("expected one of bandwidth"));
  }
  SECTION("a bad until") {
    for (const char* until : {"\"tomorrow\"", "2030-01-01T00:00:00", "2030-01-01",
                              "\"2030-13-01T00:00:00Z\"", "\"2030-01-01T00:00:00Z\\nx = 1\""}) {
      INFO(until);
      const ConfigError e = only_error(std::string("[[override]]\nexperiment = \"a\"\nresource = "
                                                   "\"cpu\"\nvalue = \"2\"\nreason = \"x\"\nuntil "
                                                   "= ") +
                                       until + "\n");
      CHECK(e.line == 13);
      CHECK_THAT(e.message, Contains("expected an RFC 3339 time"));
    }
  }
  SECTION("an unknown experiment") {
    const ConfigError e = only_error(R"(
[[override]]
experiment = "c"
resource = "cpu"
value = "2"
reason = "x"
)");
    CHECK(e.line == 10);
    CHECK_THAT(e.message, Contains("no such experiment (known: a, b)"));
  }
  SECTION("an unknown key") {
    CHECK(only_error("[[override]]\nexperiment = \"a\"\nresource = \"cpu\"\nvalue = \"2\"\n"
                     "reason = \"x\"\nfor = \"1h\"\n")
              .line == 13);
  }
  SECTION("the same experiment and resource twice in one file") {
    const ConfigError e = only_error(R"(
[[override]]
experiment = "a"
resource = "cpu"
value = "2"
reason = "x"

[[override]]
experiment = "a"
resource = "cpu"
value = "3"
reason = "y"
)");
    CHECK(e.line == 15);
    CHECK_THAT(e.message, Contains("given twice in this file (first at line 9)"));
  }
  SECTION("checked against the allocation and the node as enforcerctl's are") {
    const ConfigResult r = parse(R"(
[[override]]
experiment = "a"
resource = "bandwidth"
value = "20Gbit"
reason = "x"
)");
    REQUIRE(r.config);
    const auto errors = check_config_overrides(*r.config, at(1'800'000'000));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].source == "main.toml");
    CHECK(errors[0].line == 9);
    CHECK_THAT(errors[0].to_string(), Contains("main.toml:9: override: a: bandwidth 20Gbit is "
                                               "above the link rate 10Gbit"));
  }
}

TEST_CASE("[[override]] in drop-ins: a later file's replaces an earlier file's",
          "[config][overrides]") {
  FakeFiles fs;
  fs.files[kMain] = std::string(kBase) +
                    "\n[[override]]\nexperiment = \"a\"\nresource = \"cpu\"\nvalue = \"2\"\n"
                    "reason = \"fleet\"\n";
  fs.files[dropin("10-site.toml")] =
      "[[override]]\nexperiment = \"a\"\nresource = \"cpu\"\nvalue = \"3\"\nreason = \"site\"\n"
      "\n[[override]]\nexperiment = \"b\"\nresource = \"memory\"\nvalue = \"2GiB\"\nreason = "
      "\"site\"\n";
  const ConfigResult r = fs.load();
  INFO(describe_errors(r));
  REQUIRE(r.config);
  const auto& o = r.config->overrides;
  REQUIRE(o.size() == 2);
  CHECK(o[0].experiment == "a");
  CHECK(o[0].value == "3");
  CHECK(o[0].file == dropin("10-site.toml"));
  CHECK(o[0].line == 1);
  CHECK(o[1].experiment == "b");

  SECTION("an experiment left out on this host takes its overrides along") {
    fs.files[dropin("20-off.toml")] = "[[experiment]]\nname = \"b\"\nenabled = false\n";
    const ConfigResult off = fs.load();
    INFO(describe_errors(off));
    REQUIRE(off.config);
    REQUIRE(off.config->overrides.size() == 1);
    CHECK(off.config->overrides[0].experiment == "a");
  }
}

TEST_CASE("enforcerctl's override wins over the configuration's until it ends",
          "[config][overrides]") {
  const ConfigResult r = parse(R"(
[[override]]
experiment = "a"
resource = "bandwidth"
value = "10Mbit"
reason = "config"
)");
  REQUIRE(r.config);
  const Allocation configured = r.config->experiments[0].allocation;  // 100Mbit
  std::vector<Override> all = config_overrides(*r.config);
  const auto now = at(1'800'000'000);
  CHECK(effective_allocation(configured, all, "a", now).allocation.bandwidth_bits == 10'000'000);
  CHECK(effective_allocation(configured, all, "b", now).allocation.bandwidth_bits == 100'000'000);
  CHECK(override_in_force(all[0], all, now));

  // A CLI override of the same resource, listed before or after the config's: it wins.
  const Override mine = cli("a", Resource::kBandwidth, "50Mbit", now + std::chrono::hours(1));
  for (const bool before : {true, false}) {
    std::vector<Override> both = all;
    both.insert(before ? both.begin() : both.end(), mine);
    CHECK(effective_allocation(configured, both, "a", now).allocation.bandwidth_bits == 50'000'000);
    const Override& config_one = before ? both[1] : both[0];
    CHECK_FALSE(override_in_force(config_one, both, now));
    CHECK(override_in_force(mine, both, now));
    // Once the CLI one has expired, the config's applies again.
    const auto later = now + std::chrono::hours(2);
    CHECK(effective_allocation(configured, both, "a", later).allocation.bandwidth_bits ==
          10'000'000);
    CHECK(override_in_force(config_one, both, later));
  }
  // Cleared (removed from the set): the config's again.
  CHECK(effective_allocation(configured, all, "a", now).allocation.bandwidth_bits == 10'000'000);
  // A CLI override of another resource leaves the config's in force.
  std::vector<Override> other = all;
  other.push_back(cli("a", Resource::kCpu, "2"));
  CHECK(override_in_force(other[0], other, now));
  CHECK(effective_allocation(configured, other, "a", now).allocation.bandwidth_bits == 10'000'000);
}

TEST_CASE("an expired config override is ignored, not an error", "[config][overrides]") {
  const ConfigResult r = parse(R"(
[[override]]
experiment = "a"
resource = "bandwidth"
value = "20Gbit"
reason = "old campaign"
until = 2020-01-01T00:00:00Z
)");
  INFO(describe_errors(r));
  REQUIRE(r.config);  // expired: not an error
  const auto now = at(1'800'000'000);
  // Not checked (it would be above the link rate) and not applied.
  CHECK(check_config_overrides(*r.config, now).empty());
  const std::vector<Override> all = config_overrides(*r.config);
  REQUIRE(all.size() == 1);
  CHECK_FALSE(override_in_force(all[0], all, now));
  CHECK(effective_allocation(r.config->experiments[0].allocation, all, "a", now)
            .allocation.bandwidth_bits == 100'000'000);
  // In force until its time.
  CHECK(override_in_force(all[0], all, at(1'500'000'000)));
}

TEST_CASE("an override's JSON and enforcerctl's list name its source", "[config][overrides]") {
  const ConfigResult r = parse(R"(
[[override]]
experiment = "a"
resource = "bandwidth"
value = "10Mbit"
reason = "config"
)");
  REQUIRE(r.config);
  const Override config_one = config_overrides(*r.config)[0];
  const nlohmann::json c = override_to_json(config_one);
  CHECK(c["source"] == "config");
  CHECK(c["file"] == "main.toml");
  CHECK(c["line"] == 9);
  CHECK(c["set_at"].is_null());
  const Override mine = cli("a", Resource::kBandwidth, "50Mbit");
  const nlohmann::json m = override_to_json(mine);
  CHECK(m["source"] == "cli");
  CHECK_FALSE(m.contains("file"));
  CHECK(m["set_by_uid"] == 0);
  // The file keeps enforcerctl's form, and reads it back.
  auto back = override_from_json(m);
  REQUIRE(back.ok());
  CHECK(back->source == OverrideSource::kCli);

  nlohmann::json shadowed = c;
  shadowed["in_force"] = false;
  const std::string list = ctl::format_override_list(nlohmann::json::array({shadowed, m}), 0);
  INFO(list);
  CHECK_THAT(list, Contains("SOURCE"));
  CHECK_THAT(list, Contains("config main.toml:9 (replaced by cli)"));
  CHECK_THAT(list, Contains("uid 0"));
  CHECK_THAT(list, Contains(" cli "));
}

TEST_CASE("the effective configuration prints the overrides, and the print reads back",
          "[config][overrides]") {
  const ConfigResult r = parse(R"(
[[override]]
experiment = "a"
resource = "window"
value = "30s"
reason = "say \"why\""
until = "2030-01-01T01:00:00+01:00"
)");
  REQUIRE(r.config);
  const std::string text = format_config(*r.config);
  CHECK_THAT(text, Contains("[[override]]\nexperiment = \"a\"\nresource = \"window\"\n"
                            "value = \"30s\"\nreason = \"say \\\"why\\\"\"\n"
                            "until = 2030-01-01T00:00:00Z\n"));
  const ConfigResult back = parse_config(text, "printed.toml");
  INFO(describe_errors(back));
  REQUIRE(back.config);
  REQUIRE(back.config->overrides.size() == 1);
  CHECK(back.config->overrides[0].until_unix == r.config->overrides[0].until_unix);
  CHECK(back.config->overrides[0].reason == "say \"why\"");
}
