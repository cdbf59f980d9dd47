// Experiments given by their M-Lab index (index = N): addresses derived from the kernel command
// line's epoxy.ipv4/ipv6, when that file is read, and the errors; the uplink by the host's address
// (interfaces = ["auto"]); read_cmdline_file.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config_test_support.hpp"
#include "temp_dir.hpp"

using namespace enforcer;
using namespace enforcer::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

// mlab4.lga0t's kernel command line (M-Lab's index2ip tests), shortened.
constexpr const char* kEpoxyCmdline =
    "BOOT_IMAGE=/vmlinuz epoxy.ipv4=4.14.159.112/26,4.14.159.65,8.8.8.8,8.8.4.4 "
    "epoxy.ipv6=2001:1900:2100:2d::112/64,2001:1900:2100:2d::1,2001:4860:4860::8888,"
    "2001:4860:4860::8844 net.ifnames=0\n";

// A reader that returns `text` and counts its calls and the paths it was asked for.
struct FakeCmdline {
  std::string text;
  std::vector<std::string> paths;
  CmdlineReader reader() {
    return [this](const std::string& path) -> Expected<std::string> {
      paths.push_back(path);
      return text;
    };
  }
};

std::vector<ConfigError> index_errors(std::string_view text, const CmdlineReader& read) {
  const ConfigResult r = parse_config(text, "test.toml", read);
  CHECK_FALSE(r.config.has_value());
  REQUIRE_FALSE(r.errors.empty());
  return r.errors;
}

}  // namespace

TEST_CASE("index = N derives an experiment's addresses from epoxy.ipv4/ipv6", "[config]") {
  FakeCmdline cmdline{kEpoxyCmdline, {}};
  const std::string text = R"(
[[experiment]]
name = "ndt"
index = 2
bandwidth = "2.5Gbit"

[[experiment]]
name = "msak"
index = 1

[[experiment]]
name = "static"
addresses = ["4.14.159.120"]
)";
  const ConfigResult r = parse_config(text, "test.toml", cmdline.reader());
  INFO("errors:" << describe(r.errors));
  REQUIRE(r.config);
  const Config& c = *r.config;
  CHECK(c.network.kernel_cmdline == "/proc/cmdline");
  CHECK(cmdline.paths == std::vector<std::string>{"/proc/cmdline"});  // read once
  REQUIRE(c.experiments.size() == 3);
  CHECK(c.experiments[0].index == 2);
  REQUIRE(c.experiments[0].addresses.size() == 2);
  CHECK(to_string(c.experiments[0].addresses[0]) == "4.14.159.114");
  CHECK(to_string(c.experiments[0].addresses[1]) == "2001:1900:2100:2d::114");
  CHECK(c.experiments[0].allocation.bandwidth_bits == 2'500'000'000ULL);
  CHECK(c.experiments[1].index == 1);
  REQUIRE(c.experiments[1].addresses.size() == 2);
  CHECK(to_string(c.experiments[1].addresses[0]) == "4.14.159.113");
  CHECK(to_string(c.experiments[1].addresses[1]) == "2001:1900:2100:2d::113");
  CHECK(c.experiments[2].index == 0);

  // --check-config shows the index as written and the addresses it gives; that parses back.
  const std::string printed = format_config(c);
  INFO(printed);
  CHECK_THAT(printed, Contains("kernel_cmdline = \"/proc/cmdline\"\n"));
  CHECK_THAT(printed, Contains("name = \"ndt\"\nindex = 2  # addresses = [\"4.14.159.114\", "
                               "\"2001:1900:2100:2d::114\"] (epoxy.ipv4/epoxy.ipv6 + 2)\n"));
  CHECK_THAT(printed, Contains("name = \"static\"\naddresses = [\"4.14.159.120\"]\n"));
  const ConfigResult again = parse_config(printed, "formatted", cmdline.reader());
  INFO("errors:" << describe(again.errors));
  REQUIRE(again.config);
  check_same_config(c, *again.config);
  for (std::size_t i = 0; i < c.experiments.size(); ++i) {
    CHECK(again.config->experiments[i].index == c.experiments[i].index);
  }
  CHECK(format_config(*again.config) == printed);
}

TEST_CASE("index: network.kernel_cmdline names the file, a host without IPv6 gives IPv4 only",
          "[config]") {
  TempDir tmp;
  const auto cmdline = tmp.path / "cmdline";
  std::ofstream(cmdline) << "ro epoxy.ipv4=192.0.2.9/26,192.0.2.1,8.8.8.8,8.8.4.4 epoxy.ipv6= x\n";
  const auto file = tmp.path / "enforcer.toml";
  std::ofstream(file) << "[network]\nkernel_cmdline = \"" << cmdline.string()
                      << "\"\n\n[[experiment]]\nname = \"ndt\"\nindex = 2\n"
                      << "\n[[experiment]]\nname = \"host\"\nindex = 12\n"
                      << "cgroup = \"kubepods.slice/*\"\n";
  const ConfigResult r = load_config(file.string());
  INFO("errors:" << describe(r.errors));
  REQUIRE(r.config);
  CHECK(r.config->network.kernel_cmdline == cmdline.string());
  REQUIRE(r.config->experiments.size() == 2);
  REQUIRE(r.config->experiments[0].addresses.size() == 1);
  CHECK(to_string(r.config->experiments[0].addresses[0]) == "192.0.2.11");
  REQUIRE(r.config->experiments[1].addresses.size() == 1);
  CHECK(to_string(r.config->experiments[1].addresses[0]) == "192.0.2.21");
  CHECK(r.config->experiments[1].cgroup == "kubepods.slice/*");
}

TEST_CASE("index: the kernel command line is read only when an experiment uses index", "[config]") {
  int calls = 0;
  const CmdlineReader failing = [&](const std::string&) -> Expected<std::string> {
    ++calls;
    return Error{"must not be read"};
  };
  const ConfigResult r = parse_config(kDesignExample, "test.toml", failing);
  CHECK(r.config);
  CHECK(calls == 0);
}

TEST_CASE("index: errors name the experiment, the key, the value and the line", "[config]") {
  FakeCmdline good{kEpoxyCmdline, {}};
  SECTION("addresses and index both, or neither") {
    const std::string text = R"([[experiment]]
name = "ndt"
addresses = ["4.14.159.114"]
index = 2

[[experiment]]
name = "msak"
)";
    const auto errors = index_errors(text, good.reader());
    INFO("errors:" << describe(errors));
    REQUIRE(errors.size() == 2);
    CHECK(errors[0].line == 4);
    CHECK(errors[0].key == "experiment \"ndt\".index");
    CHECK(errors[0].message ==
          "experiment \"ndt\": give either addresses (line 3) or index (line 4), not both");
    CHECK(errors[1].line == 6);
    CHECK_THAT(errors[1].message,
               Contains("experiment \"msak\" has no addresses and no cgroup: list its addresses, "
                        "give its M-Lab index (index = N)"));
    // An empty list beside index is still both.
    CHECK(index_errors("[[experiment]]\nname = \"a\"\naddresses = []\nindex = 1\n", good.reader())
              .size() == 1);
  }
  SECTION("an index that is not an integer from 1 to 255") {
    for (const char* value : {"0", "-1", "256", "\"2\"", "2.0"}) {
      INFO(value);
      const std::string text = fmt::format("[[experiment]]\nname = \"a\"\nindex = {}\n", value);
      const auto errors = index_errors(text, good.reader());
      INFO("errors:" << describe(errors));
      REQUIRE(errors.size() == 1);
      CHECK(errors[0].line == 3);
      CHECK_THAT(errors[0].message,
                 Contains("experiment \"a\".index = " + std::string(value) +
                          ": expected the experiment's M-Lab index, an integer from 1 to 255"));
    }
    CHECK(good.paths.empty());
  }
  SECTION("an index the host's addresses cannot take") {
    const auto errors = index_errors(
        "[[experiment]]\nname = \"a\"\n\nindex = 12\n\n[[experiment]]\nname = "
        "\"b\"\nindex = 16\n",
        good.reader());
    INFO("errors:" << describe(errors));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].line == 8);
    CHECK(errors[0].key == "experiment \"b\".index");
    CHECK(errors[0].message ==
          "experiment \"b\".index = 16: 4.14.159.112 (epoxy.ipv4) + 16 = 4.14.159.128 is outside "
          "the host's subnet 4.14.159.64/26");
  }
  SECTION("two experiments with one index, an index that gives a listed address") {
    const std::string text = R"([[experiment]]
name = "a"
index = 2

[[experiment]]
name = "b"
index = 2

[[experiment]]
name = "c"
addresses = ["4.14.159.115"]

[[experiment]]
name = "d"
index = 3
)";
    const auto errors = index_errors(text, good.reader());
    INFO("errors:" << describe(errors));
    REQUIRE(errors.size() == 3);
    CHECK(errors[0].line == 7);
    CHECK(errors[0].key == "experiment \"b\".index");
    CHECK(errors[0].message ==
          "experiment \"b\".index: 4.14.159.114 overlaps 4.14.159.114 of experiment \"a\"");
    CHECK(errors[1].line == 15);
    CHECK(errors[1].message ==
          "experiment \"d\".index: 4.14.159.115 overlaps 4.14.159.115 of experiment \"c\"");
    CHECK(errors[2].line == 7);
    CHECK(errors[2].message ==
          "experiment \"b\".index: 2001:1900:2100:2d::114 overlaps "
          "2001:1900:2100:2d::114 of experiment \"a\"");
  }
  SECTION("no epoxy.ipv4 on the kernel command line: said once") {
    FakeCmdline plain{"BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro\n", {}};
    const auto errors = index_errors(
        "[network]\nkernel_cmdline = \"/tmp/cmdline\"\n[[experiment]]\nname = \"a\"\nindex = "
        "1\n[[experiment]]\nname = \"b\"\nindex = 2\n",
        plain.reader());
    INFO("errors:" << describe(errors));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].line == 5);
    CHECK(errors[0].message ==
          "experiment \"a\".index = 1: the kernel command line has no epoxy.ipv4= parameter "
          "(M-Lab's ePoxy boots a node with epoxy.ipv4=<address>/<length>,<gateway>,<dns1>,"
          "<dns2>) (from /tmp/cmdline)");
    CHECK(plain.paths == std::vector<std::string>{"/tmp/cmdline"});
  }
  SECTION("a malformed epoxy.ipv6") {
    FakeCmdline bad{"epoxy.ipv4=192.0.2.9/26,a,b,c epoxy.ipv6=2001:db8::9/64,a\n", {}};
    const auto errors = index_errors("[[experiment]]\nname = \"a\"\nindex = 1\n", bad.reader());
    INFO("errors:" << describe(errors));
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0].message,
               Contains("experiment \"a\".index = 1: epoxy.ipv6=2001:db8::9/64,a: 2 fields where "
                        "there should be 4"));
  }
  SECTION("a kernel command line that cannot be read") {
    TempDir tmp;
    for (const std::string& path : {(tmp.path / "missing").string(), tmp.path.string()}) {
      INFO(path);
      const std::string text = "[network]\nkernel_cmdline = \"" + path +
                               "\"\n\n[[experiment]]\nname = \"a\"\nindex = 1\n";
      const auto errors = index_errors(text, read_cmdline_file);
      INFO("errors:" << describe(errors));
      REQUIRE(errors.size() == 1);
      CHECK(errors[0].line == 6);
      CHECK_THAT(errors[0].message,
                 Contains("experiment \"a\".index = 1: cannot read the kernel command line "
                          "(network.kernel_cmdline = \"" +
                          path + "\"): "));
    }
  }
  SECTION("network.kernel_cmdline must be an absolute path") {
    for (const char* value : {"\"proc/cmdline\"", "\"\"", "1"}) {
      INFO(value);
      const auto errors =
          index_errors(fmt::format("[network]\nkernel_cmdline = {}\n", value), good.reader());
      INFO("errors:" << describe(errors));
      REQUIRE(errors.size() == 1);
      CHECK(errors[0].line == 2);
      CHECK(errors[0].key == "network.kernel_cmdline");
    }
  }
}

TEST_CASE("interfaces = [\"auto\"]: the uplink is the interface holding epoxy.ipv4's address",
          "[config]") {
  FakeCmdline cmdline{kEpoxyCmdline, {}};
  const std::string text = "[network]\ninterfaces = [\"auto\"]\n";
  const ConfigResult r = parse_config(text, "test.toml", cmdline.reader());
  INFO("errors:" << describe(r.errors));
  REQUIRE(r.config);
  CHECK(r.config->network.interfaces == std::vector<std::string>{"auto"});
  REQUIRE(r.config->network.uplink_address);
  CHECK(to_string(*r.config->network.uplink_address) == "4.14.159.112");
  CHECK(cmdline.paths == std::vector<std::string>{"/proc/cmdline"});
  const std::string printed = format_config(*r.config);
  CHECK_THAT(printed, Contains("interfaces = [\"auto\"]\n"));

  SECTION("named interfaces read no command line") {
    FakeCmdline unread{kEpoxyCmdline, {}};
    const ConfigResult named =
        parse_config("[network]\ninterfaces = [\"eth0\"]\n", "test.toml", unread.reader());
    REQUIRE(named.config);
    CHECK_FALSE(named.config->network.uplink_address);
    CHECK(unread.paths.empty());
  }
  SECTION("\"auto\" beside a name") {
    const auto errors =
        index_errors("[network]\ninterfaces = [\"eth0\", \"auto\"]\n", cmdline.reader());
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].key == "network.interfaces");
    CHECK_THAT(errors[0].message, Contains("must be the only entry"));
  }
  SECTION("no epoxy.ipv4 on the command line") {
    FakeCmdline bare{"BOOT_IMAGE=/vmlinuz net.ifnames=0\n", {}};
    const auto errors = index_errors(text, bare.reader());
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].key == "network.interfaces");
    CHECK(errors[0].line == 2);
    CHECK_THAT(errors[0].message, Contains("epoxy.ipv4"));
    CHECK_THAT(errors[0].message, Contains("network.kernel_cmdline = \"/proc/cmdline\""));
  }
  SECTION("an unreadable command line") {
    const CmdlineReader failing = [](const std::string&) -> Expected<std::string> {
      return Error{"Permission denied"};
    };
    const auto errors = index_errors(
        "[network]\ninterfaces = [\"auto\"]\nkernel_cmdline = \"/etc/cmdline\"\n", failing);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0].message, Contains("\"/etc/cmdline\""));
    CHECK_THAT(errors[0].message, Contains("cannot read it: Permission denied"));
  }
}

TEST_CASE("read_cmdline_file reads the file's text", "[config]") {
  TempDir tmp;
  const auto f = tmp.path / "cmdline";
  std::ofstream(f) << kEpoxyCmdline;
  auto text = read_cmdline_file(f.string());
  REQUIRE(text);
  CHECK(*text == kEpoxyCmdline);
  auto missing = read_cmdline_file((tmp.path / "missing").string());
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == "No such file or directory");
}
