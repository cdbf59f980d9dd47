// format_config (what --check-config prints) parses back to the same config, escapes strings,
// and the shipped configuration and examples parse.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/config_files.hpp"
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
cgroup_manager = "cgroupfs"

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

TEST_CASE("the fleet example, as a machine of lga03 and one of another site read it", "[config]") {
  // The node's own files (the kernel command line, ndt's metadata file) are the test's; the
  // example's files are read as they are.
  const std::filesystem::path root = ENFORCER_SOURCE_DIR;
  std::string hostname;
  ConfigFileAccess access = system_file_access();
  const auto read_file = access.read_file;
  access.read_file = [&](const std::string& path, std::size_t max) -> Expected<std::string> {
    if (path == "/var/local/metadata/iface-max-rate") return std::string("10000000000\n");
    return read_file(path, max);
  };
  access.read_cmdline = [](const std::string& path) -> Expected<std::string> {
    CHECK(path == "/proc/cmdline");
    return std::string("epoxy.ipv4=198.18.0.2/24,198.18.0.1,8.8.8.8,8.8.4.4 epoxy.ipv6=\n");
  };
  access.hostname = [&]() -> Expected<std::string> { return hostname; };
  const ConfigPaths paths{(root / "config/examples/fleet/enforcer.toml").string(), ""};
  auto find = [](const Config& c, const std::string& name) -> const ExperimentConfig* {
    for (const auto& x : c.experiments) {
      if (x.name == name) return &x;
    }
    return nullptr;
  };

  hostname = "mlab2-lga03.mlab-oti.measurement-lab.org";
  ConfigResult r = load_config(paths, access);
  INFO("errors:" << describe(r.errors));
  REQUIRE(r.config);
  const Config& lga = *r.config;
  REQUIRE(find(lga, "ndt"));
  CHECK(find(lga, "ndt")->allocation.bandwidth_bits == 10'000'000'000ULL);  // the metadata file's
  CHECK(find(lga, "ndt")->addresses.front() == parse_prefix("198.18.0.4").value());  // .2 + 2
  CHECK(find(lga, "msak")->allocation.bandwidth_bits == 200'000'000);
  CHECK(find(lga, "wehe") == nullptr);   // the machine drop-in disables it
  CHECK(find(lga, "revtr") != nullptr);  // the site drop-in enables it
  REQUIRE(find(lga, "host-probe"));
  CHECK(find(lga, "host-probe")->optional);
  CHECK_FALSE(find(lga, "ndt")->optional);

  hostname = "mlab1-lax01.mlab-oti.measurement-lab.org";
  r = load_config(paths, access);
  REQUIRE(r.config);
  CHECK(find(*r.config, "wehe") != nullptr);
  CHECK(find(*r.config, "wehe")->pinned_rate_bits == 0);  // lga03's throttle is not here
  CHECK(find(*r.config, "revtr") == nullptr);
  CHECK(find(*r.config, "ndt")->allocation.bandwidth_bits == 10'000'000'000ULL);
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
