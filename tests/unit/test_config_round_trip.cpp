// format_config (what --check-config prints) parses back to the same config, escapes strings,
// and the shipped configuration and examples parse.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config_test_support.hpp"

using namespace enforcer;
using namespace enforcer::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

TEST_CASE("format_config output parses back to the same config", "[config]") {
  SECTION("the configuration contract's example") {
    const Config a = parse_ok(kDesignExample);
    const std::string text = format_config(a);
    INFO("formatted:\n" << text);
    const Config b = parse_ok(text);
    check_same_config(a, b);
    CHECK(format_config(b) == text);
  }
  SECTION("defaults only") {
    const Config a = parse_ok("");
    const std::string text = format_config(a);
    INFO("formatted:\n" << text);
    const Config b = parse_ok(text);
    check_same_config(a, b);
    CHECK(format_config(b) == text);
  }
  SECTION("every key changed, several experiments") {
    const Config a = parse_ok(R"(
[daemon]
tick = "250ms"
state_dir = "/tmp/enforcer state"
control_socket = "/tmp/enforcer/control.sock"
bpf_pin_dir = "/sys/fs/bpf/test"
metrics_listen = "[::1]:19724"
cgroup_root = "/sys/fs/cgroup/unified"
max_experiments = 64
project_id_base = 500

[network]
interfaces = ["eth0", "eth1", "bond0.42"]
link_rate = "2.5Gbit"
enforcement = "police"

[defaults]
cpu = 0.5
memory = "768MiB"
disk = "1.5TB"
disk_io = "12.5%"
bandwidth = "123.456Mbit"
window = "90s"
min_rate = "0.5%"

[[experiment]]
name = "ndt"
wide_prefixes = true
addresses = ["198.18.0.10", "2001:db8::10", "198.18.4.0/24", "2001:db8:1::/48"]
bandwidth = "2.5Gbit"
window = "1500ms"
min_rate = "20Mbit"
cpu = 3.25
memory = "3GiB"
disk = "40GB"
disk_io = "50%"

[[experiment]]
name = "host-net_exp.1"
addresses = []
cgroup = "system.slice/host-net-*.service"
data_dir = "/cache/data/host-net/"
project_id = 4242

[[experiment]]
name = "wehe"
addresses = ["198.18.0.13"]
min_rate = "1234567bit"
data_dir = "/cache/data/wehe"

[[device]]
path = "/dev/vda"
read_bps = "200MB/s"
write_bps = "1.5GiB"
read_iops = 4000
write_iops = 3000

[[device]]
path = "/dev/disk/by-id/virtio-data"
write_bps = 123456789
)");
    CHECK(a.network.enforcement == Enforcement::kPolice);
    CHECK(a.experiments.size() == 3);
    CHECK(a.experiments[1].project_id == 4242);
    CHECK(a.experiments[2].project_id == 503);  // project_id_base + its position
    CHECK(a.devices.size() == 2);
    const std::string text = format_config(a);
    INFO("formatted:\n" << text);
    const Config b = parse_ok(text);
    check_same_config(a, b);
    CHECK(format_config(b) == text);
  }
}

TEST_CASE("the shipped configuration and examples parse", "[config]") {
  const std::filesystem::path root = ENFORCER_SOURCE_DIR;
  std::vector<std::filesystem::path> files = {root / "config/enforcer.toml"};
  for (const auto& e : std::filesystem::directory_iterator(root / "config/examples")) {
    if (e.path().extension() == ".toml") files.push_back(e.path());
  }
  files.push_back(root / "config/examples/fleet/enforcer.toml");  // with its enforcer.d
  for (const auto& f : files) {
    INFO(f.string());
    const ConfigResult r = load_config(f.string());
    INFO("errors:" << describe(r.errors));
    CHECK(r.errors.empty());
  }

  const ConfigResult r = load_config((root / "config/examples/mlab-node-limits.toml").string());
  REQUIRE(r.config);
  const Config& c = *r.config;
  REQUIRE(c.experiments.size() == 3);
  CHECK(c.experiments[0].project_id == 2);
  CHECK(c.experiments[1].project_id == 10002);
  CHECK(c.experiments[2].cgroup ==
        "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod*.slice");
  CHECK(c.experiments[2].project_id == 0);
  REQUIRE(c.devices.size() == 1);
  CHECK(c.devices[0].read_bps == 500'000'000ULL);
  CHECK(c.devices[0].write_iops == 40000);
}

TEST_CASE("format_config escapes control characters, quotes and backslashes in strings",
          "[config]") {
  // Found by tests/fuzz/fuzz_config: a path with an escaped control character was written back
  // raw, and --check-config printed TOML the daemon itself rejects.
  const auto first = parse_config(
      "[daemon]\ncontrol_socket = \"/run/a\\u0001b\\\\c\\\"d/control.sock\"\n", "test");
  REQUIRE(first.config);
  const std::string text = format_config(*first.config);
  INFO(text);
  CHECK(text.find("\"/run/a\\u0001b\\\\c\\\"d/control.sock\"") != std::string::npos);
  const auto again = parse_config(text, "formatted");
  REQUIRE(again.config);
  CHECK(again.config->daemon.control_socket == first.config->daemon.control_socket);
  CHECK(format_config(*again.config) == text);
}
