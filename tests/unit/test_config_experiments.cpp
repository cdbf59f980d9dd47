// [[experiment]] tables: unique names, addresses and prefixes that do not overlap, pinned_rate,
// host-network experiments found by cgroup glob, and project ids.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config_test_support.hpp"

using namespace enforcer;
using namespace enforcer::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

TEST_CASE("duplicate experiment names are rejected naming both lines", "[config]") {
  constexpr std::string_view text = R"([defaults]
bandwidth = "100Mbit"

[[experiment]]
name = "ndt"   # first
addresses = ["198.18.0.10"]

[[experiment]]
name = "wehe"
addresses = ["198.18.0.13"]

[[experiment]]
name = "ndt"   # second
addresses = ["198.18.0.20"]
)";
  const std::vector<ConfigError> errors = parse_errors(text);
  INFO("errors:" << describe(errors));
  REQUIRE(errors.size() == 1);
  const ConfigError& e = errors[0];
  const int first = line_of(text, "# first");
  const int second = line_of(text, "# second");
  CHECK(e.line == second);
  CHECK_THAT(e.key, Contains("name"));
  CHECK_THAT(e.message, Contains("ndt"));
  CHECK_THAT(e.message, Contains(std::to_string(first)));
  const std::string where = e.to_string();
  CHECK_THAT(where, Contains("test.toml:" + std::to_string(second) + ":"));
  CHECK_THAT(where, Contains(std::to_string(first)));
}

TEST_CASE("overlapping addresses of two experiments are rejected naming both", "[config]") {
  SECTION("a prefix contains another experiment's address") {
    constexpr std::string_view text = R"([[experiment]]
name = "ndt"
addresses = ["198.18.0.0/24", "2001:db8::10"]

[[experiment]]
name = "wehe"
addresses = [
  "2001:db8::13",
  "198.18.0.13",   # <-
]
)";
    const std::vector<ConfigError> errors = parse_errors(text);
    INFO("errors:" << describe(errors));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].line == line_of(text, "# <-"));
    CHECK_THAT(errors[0].key, Contains("addresses"));
    CHECK_THAT(errors[0].message, Contains("\"ndt\""));
    CHECK_THAT(errors[0].message, Contains("wehe"));
    CHECK_THAT(errors[0].message, Contains("198.18.0.13"));
    CHECK_THAT(errors[0].message, Contains("198.18.0.0/24"));
  }
  SECTION("IPv6, the wider prefix second") {
    constexpr std::string_view text = R"([[experiment]]
name = "msak"
addresses = ["2001:db8::11"]

[[experiment]]
name = "ndt"
addresses = ["2001:db8::/64"]   # <-
)";
    const std::vector<ConfigError> errors = parse_errors(text);
    INFO("errors:" << describe(errors));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].line == line_of(text, "# <-"));
    CHECK_THAT(errors[0].message, Contains("msak"));
    CHECK_THAT(errors[0].message, Contains("ndt"));
  }
  SECTION("IPv4 and IPv6 and neighbouring prefixes never clash") {
    const Config c = parse_ok(R"([[experiment]]
name = "ndt"
addresses = ["198.18.0.0/25", "::ffff:198.18.1.1"]

[[experiment]]
name = "wehe"
addresses = ["198.18.0.128/25", "198.18.1.1"]
)");
    CHECK(c.experiments.size() == 2);
  }
}

TEST_CASE("prefixes wide enough to hold the host's addresses must be asked for", "[config]") {
  struct Case {
    const char* addresses;
    bool wide;
    const char* error;  // nullptr: accepted
  };
  const Case cases[] = {
      {"\"0.0.0.0/0\"", false, "0.0.0.0/0 is every address"},
      {"\"::/0\"", true, "::/0 is every address"},  // never, even when asked for
      {"\"198.18.0.0/16\"", false, "198.18.0.0/16 is shorter than /24"},
      {"\"2001:db8::/48\"", false, "2001:db8::/48 is shorter than /64"},
      {"\"198.18.0.0/16\"", true, nullptr},
      {"\"2001:db8::/48\"", true, nullptr},
      {"\"198.18.0.0/24\", \"2001:db8::/64\"", false, nullptr},
  };
  for (const Case& c : cases) {
    const std::string text = fmt::format("[[experiment]]\nname = \"x\"\n{}addresses = [{}]  # <-\n",
                                         c.wide ? "wide_prefixes = true\n" : "", c.addresses);
    INFO(text);
    if (!c.error) {
      CHECK(parse_ok(text).experiments.size() == 1);
      continue;
    }
    const std::vector<ConfigError> errors = parse_errors(text);
    INFO("errors:" << describe(errors));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].line == line_of(text, "# <-"));
    CHECK_THAT(errors[0].key, Contains("addresses"));
    CHECK_THAT(errors[0].message, Contains(c.error));
  }
  const Config c = parse_ok(
      "[[experiment]]\nname = \"x\"\nwide_prefixes = true\naddresses = [\"198.18.0.0/16\"]\n");
  CHECK(c.experiments[0].wide_prefixes);
  CHECK_THAT(format_config(c), Contains("wide_prefixes = true"));
  CHECK(parse_errors("[[experiment]]\nname = \"x\"\nwide_prefixes = 1\naddresses = "
                     "[\"198.18.0.1\"]\n")
            .size() == 1);
}

TEST_CASE("optional marks an experiment whose pod need not run on this machine", "[config]") {
  const Config c = parse_ok(R"(
[[experiment]]
name = "revtr"
addresses = ["198.18.0.16"]
optional = true

[[experiment]]
name = "ndt"
addresses = ["198.18.0.12"]
)");
  REQUIRE(c.experiments.size() == 2);
  CHECK(c.experiments[0].optional);
  CHECK_FALSE(c.experiments[1].optional);  // required unless said
  CHECK_THAT(format_config(c), Contains("optional = true"));
  const Config back = parse_ok(format_config(c));
  CHECK(back.experiments[0].optional);
  CHECK_FALSE(back.experiments[1].optional);

  const std::string bad =
      "[[experiment]]\nname = \"x\"\naddresses = [\"198.18.0.1\"]\n"
      "optional = \"yes\"  # <-\n";
  const std::vector<ConfigError> errors = parse_errors(bad);
  INFO("errors:" << describe(errors));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line == line_of(bad, "# <-"));
  CHECK_THAT(errors[0].message, Contains("optional") && Contains("expected true or false"));
  // Not a [defaults] key: it says where one experiment runs.
  CHECK(parse_errors("[defaults]\noptional = true\n").size() == 1);
}

TEST_CASE("pinned_rate is a manual throttle per experiment, checked like any rate", "[config]") {
  const Config c = parse_ok(R"(
[[experiment]]
name = "wehe"
addresses = ["198.18.0.14"]
pinned_rate = "10Mbit"

[[experiment]]
name = "msak"
addresses = ["198.18.0.10"]
)");
  REQUIRE(c.experiments.size() == 2);
  CHECK(c.experiments[0].pinned_rate_bits == 10'000'000);
  CHECK(c.experiments[1].pinned_rate_bits == 0);  // none
  // The printed effective config keeps it, and parses back the same.
  const Config back = parse_ok(format_config(c));
  CHECK(back.experiments[0].pinned_rate_bits == 10'000'000);

  const std::string bad = R"(
[[experiment]]
name = "wehe"
addresses = ["198.18.0.14"]
pinned_rate = "10Mbps"
)";
  const auto errors = parse_errors(bad);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line == line_of(bad, "pinned_rate"));
  CHECK(errors[0].message.find("\"10Mbps\"") != std::string::npos);
  CHECK(errors[0].key.find("pinned_rate") != std::string::npos);
}

TEST_CASE("host-network experiments are found by a cgroup glob instead of addresses", "[config]") {
  const Config c = parse_ok(R"(
[daemon]
cgroup_root = "/sys/fs/cgroup"

[[experiment]]
name = "host-exp"
cgroup = "system.slice/host-exp*.service"

[[experiment]]
name = "pod"
addresses = ["198.18.0.12"]

[[experiment]]
name = "both"
addresses = ["198.18.0.13"]
cgroup = "kubepods.slice/*/kubepods-*-pod1234.slice"
)");
  REQUIRE(c.experiments.size() == 3);
  CHECK(c.experiments[0].cgroup == "system.slice/host-exp*.service");
  CHECK(c.experiments[0].addresses.empty());
  CHECK(c.experiments[1].cgroup.empty());
  CHECK(c.experiments[2].cgroup == "kubepods.slice/*/kubepods-*-pod1234.slice");
  CHECK(c.experiments[2].addresses.size() == 1);
  // An empty address list is fine next to a glob.
  CHECK(parse_config("[[experiment]]\nname = \"h\"\naddresses = []\ncgroup = \"h.scope\"\n", "t")
            .errors.empty());
}

TEST_CASE("project ids: explicit, or project_id_base plus the experiment's position", "[config]") {
  SECTION("the default base") {
    const Config c = parse_ok(R"(
[[experiment]]
name = "ndt"
addresses = ["198.18.0.11"]
data_dir = "/cache/data/ndt/"

[[experiment]]
name = "msak"
addresses = ["198.18.0.10"]

[[experiment]]
name = "wehe"
addresses = ["198.18.0.14"]
data_dir = "/cache/data/wehe"
disk = "50GB"

[[experiment]]
name = "revtr"
addresses = ["198.18.0.15"]
data_dir = "/cache/data/revtr"
project_id = 77
)");
    REQUIRE(c.experiments.size() == 4);
    CHECK(c.daemon.project_id_base == 10000);
    CHECK(c.experiments[0].data_dir == "/cache/data/ndt");  // trailing slash dropped
    CHECK(c.experiments[0].project_id == 10001);
    CHECK(c.experiments[1].data_dir.empty());
    CHECK(c.experiments[1].project_id == 0);      // no data_dir, no quota
    CHECK(c.experiments[2].project_id == 10003);  // its position counts every experiment
    CHECK(c.experiments[2].allocation.disk_bytes == 50'000'000'000ULL);
    CHECK(c.experiments[3].project_id == 77);
  }
  SECTION("a configured base") {
    const Config c = parse_ok(R"(
[daemon]
project_id_base = 0
[[experiment]]
name = "ndt"
addresses = ["198.18.0.11"]
data_dir = "/d/ndt"
)");
    CHECK(c.experiments[0].project_id == 1);
  }
  SECTION("the printed config keeps each id even when the experiments move") {
    Config c = parse_ok(R"(
[[experiment]]
name = "a"
addresses = ["198.18.0.1"]
data_dir = "/d/a"
[[experiment]]
name = "b"
addresses = ["198.18.0.2"]
data_dir = "/d/b"
)");
    std::swap(c.experiments[0], c.experiments[1]);
    const Config back = parse_ok(format_config(c));
    CHECK(back.experiments[0].name == "b");
    CHECK(back.experiments[0].project_id == 10002);
    CHECK(back.experiments[1].project_id == 10001);
  }
}
