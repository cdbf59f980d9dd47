// The configuration contract's example and M-Lab's defaults (config/enforcer.toml.5): absent
// keys, per-experiment overrides of each default, and min_rate as a fraction of bandwidth.
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

TEST_CASE("the configuration contract's example parses with the right values", "[config]") {
  const Config c = parse_ok(kDesignExample);

  CHECK(c.daemon.tick == 1s);
  CHECK(c.daemon.state_dir == "/var/lib/enforcer");
  CHECK(c.daemon.control_socket == "/run/enforcer/control.sock");
  CHECK(c.daemon.bpf_pin_dir == "/sys/fs/bpf/enforcer");
  CHECK(c.daemon.metrics_listen == "127.0.0.1:9724");
  CHECK(c.daemon.cgroup_root == "/sys/fs/cgroup");

  CHECK(c.network.interfaces == std::vector<std::string>{"eth0"});
  CHECK(c.network.link_rate_bits == 10'000'000'000ULL);
  CHECK(c.network.enforcement == Enforcement::kAuto);

  CHECK(c.defaults.cpu_cores == 1.0);
  CHECK(c.defaults.memory_bytes == 1ULL << 30);
  CHECK(c.defaults.disk_bytes == 20'000'000'000ULL);
  CHECK(c.defaults.disk_io_fraction == Approx(0.10).margin(1e-15));
  CHECK(c.defaults.bandwidth_bits == 100'000'000ULL);
  CHECK(c.defaults.bandwidth_bytes_per_second() == 12'500'000ULL);
  CHECK(c.defaults.window == 5min);
  CHECK(c.defaults.min_rate.is_fraction);
  CHECK(c.defaults.min_rate.fraction == Approx(0.01).margin(1e-15));
  CHECK(c.defaults.min_rate_bits() == 1'000'000ULL);

  REQUIRE(c.experiments.size() == 1);
  const ExperimentConfig& ndt = c.experiments[0];
  CHECK(ndt.name == "ndt");
  CHECK(ndt.line == line_of(kDesignExample, "[[experiment]]"));
  REQUIRE(ndt.addresses.size() == 2);
  CHECK(to_string(ndt.addresses[0]) == "198.18.0.10");
  CHECK_FALSE(ndt.addresses[0].v6);
  CHECK(to_string(ndt.addresses[1]) == "2001:db8::10");
  CHECK(ndt.addresses[1].v6);
  CHECK(ndt.allocation.bandwidth_bits == 2'500'000'000ULL);
  // Everything else comes from [defaults]; min_rate is 1 % of ndt's own bandwidth.
  CHECK(ndt.allocation.cpu_cores == 1.0);
  CHECK(ndt.allocation.memory_bytes == 1ULL << 30);
  CHECK(ndt.allocation.disk_bytes == 20'000'000'000ULL);
  CHECK(ndt.allocation.window == 5min);
  CHECK(ndt.allocation.min_rate_bits() == 25'000'000ULL);
}

TEST_CASE("absent sections and keys take M-Lab's published defaults", "[config]") {
  const Config empty = parse_ok("");
  CHECK(empty.daemon.tick == 1s);
  CHECK(empty.daemon.state_dir == "/var/lib/enforcer");
  CHECK(empty.daemon.control_socket == "/run/enforcer/control.sock");
  CHECK(empty.daemon.bpf_pin_dir == "/sys/fs/bpf/enforcer");
  CHECK(empty.daemon.metrics_listen == "127.0.0.1:9724");
  CHECK(empty.daemon.cgroup_root.empty());
  CHECK(empty.network.interfaces == std::vector<std::string>{"eth0"});
  CHECK(empty.network.link_rate_bits == 10'000'000'000ULL);
  CHECK(empty.network.enforcement == Enforcement::kAuto);
  CHECK(empty.defaults.cpu_cores == 1.0);
  CHECK(empty.defaults.memory_bytes == 1ULL << 30);
  CHECK(empty.defaults.disk_bytes == 20'000'000'000ULL);
  CHECK(empty.defaults.disk_io_fraction == Approx(0.10).margin(1e-15));
  CHECK(empty.defaults.bandwidth_bits == 100'000'000ULL);
  CHECK(empty.defaults.window == 5min);
  CHECK(empty.defaults.min_rate_bits() == 1'000'000ULL);
  CHECK(empty.experiments.empty());

  // Only an experiment: it gets every default.
  const Config one = parse_ok(R"(
[[experiment]]
name = "msak"
addresses = ["198.18.0.11"]
)");
  REQUIRE(one.experiments.size() == 1);
  check_same_allocation(one.experiments[0].allocation, Allocation{});

  // A partial [defaults]: the keys it names change, the others keep the published values.
  const Config partial = parse_ok(R"(
[daemon]
tick = "500ms"
[defaults]
memory = "2GiB"
)");
  CHECK(partial.daemon.tick == 500ms);
  CHECK(partial.defaults.memory_bytes == 2ULL << 30);
  CHECK(partial.defaults.bandwidth_bits == 100'000'000ULL);
  CHECK(partial.defaults.window == 5min);
  CHECK(partial.defaults.disk_bytes == 20'000'000'000ULL);
}

TEST_CASE("experiments override each default and inherit the rest", "[config]") {
  const Config c = parse_ok(R"(
[defaults]
memory = "2GiB"
bandwidth = "200Mbit"
min_rate = "2Mbit"

[[experiment]]
name = "ndt"
addresses = ["198.18.0.10", "2001:db8::10"]
bandwidth = "2.5Gbit"
window = "10m"
min_rate = "1%"
cpu = 4.0
memory = "8GiB"
disk = "100GB"
disk_io = "25%"

[[experiment]]
name = "wehe"
addresses = ["198.18.0.13"]
cpu = 2
min_rate = "500Kbit"

[[experiment]]
name = "msak"
addresses = ["198.18.0.11"]
)");
  REQUIRE(c.experiments.size() == 3);
  const Allocation& ndt = c.experiments[0].allocation;
  CHECK(ndt.bandwidth_bits == 2'500'000'000ULL);
  CHECK(ndt.window == 10min);
  CHECK(ndt.min_rate.is_fraction);
  CHECK(ndt.min_rate.fraction == Approx(0.01).margin(1e-15));
  CHECK(ndt.min_rate_bits() == 25'000'000ULL);  // 1 % of ndt's own 2.5 Gbit/s
  CHECK(ndt.cpu_cores == 4.0);
  CHECK(ndt.memory_bytes == 8ULL << 30);
  CHECK(ndt.disk_bytes == 100'000'000'000ULL);
  CHECK(ndt.disk_io_fraction == Approx(0.25).margin(1e-15));

  const Allocation& wehe = c.experiments[1].allocation;
  CHECK(wehe.cpu_cores == 2.0);
  CHECK_FALSE(wehe.min_rate.is_fraction);
  CHECK(wehe.min_rate.bits_per_second == 500'000ULL);
  CHECK(wehe.min_rate_bits() == 500'000ULL);
  CHECK(wehe.bandwidth_bits == 200'000'000ULL);
  CHECK(wehe.memory_bytes == 2ULL << 30);
  CHECK(wehe.window == 5min);

  const Allocation& msak = c.experiments[2].allocation;
  CHECK(msak.bandwidth_bits == 200'000'000ULL);
  CHECK(msak.memory_bytes == 2ULL << 30);
  CHECK_FALSE(msak.min_rate.is_fraction);
  CHECK(msak.min_rate_bits() == 2'000'000ULL);  // the default's absolute rate
  check_same_allocation(msak, c.defaults);
}

TEST_CASE("a fractional min_rate follows each experiment's own bandwidth", "[config]") {
  const Config c = parse_ok(R"(
[defaults]
bandwidth = "100Mbit"
min_rate = "1%"

[[experiment]]
name = "a"
addresses = ["198.18.0.1"]
bandwidth = "1Gbit"

[[experiment]]
name = "b"
addresses = ["198.18.0.2"]
bandwidth = "800Kbit"
min_rate = "0.5%"

[[experiment]]
name = "c"
addresses = ["198.18.0.3"]
bandwidth = "300Mbit"
min_rate = "3Mbit"
)");
  CHECK(c.defaults.min_rate_bits() == 1'000'000ULL);
  REQUIRE(c.experiments.size() == 3);
  CHECK(c.experiments[0].allocation.min_rate_bits() == 10'000'000ULL);
  CHECK(c.experiments[1].allocation.min_rate_bits() == 4'000ULL);
  CHECK(c.experiments[2].allocation.min_rate_bits() == 3'000'000ULL);
  // An absolute min_rate does not scale with the bandwidth.
  Allocation changed = c.experiments[2].allocation;
  changed.bandwidth_bits = 600'000'000ULL;
  CHECK(changed.min_rate_bits() == 3'000'000ULL);
}
