// Helpers shared by the configuration tests (test_config_*.cpp): the contract's example, parsing
// that must succeed or fail, and comparing two configurations field by field.
#pragma once

#include <catch2/catch.hpp>

#include <cstddef>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace enforcer::test {

// The configuration contract's example, verbatim.
inline constexpr std::string_view kDesignExample = R"([daemon]
tick = "1s"                              # sampling and policy period
state_dir = "/var/lib/enforcer"
control_socket = "/run/enforcer/control.sock"
bpf_pin_dir = "/sys/fs/bpf/enforcer"
metrics_listen = "127.0.0.1:9724"
cgroup_root = "/sys/fs/cgroup"           # where cgroup2 is mounted; found from /proc/self/mounts when absent

[network]
interfaces = ["eth0"]                    # uplinks; clsact is added beside the existing root qdisc
link_rate = "10Gbit"
enforcement = "auto"                     # auto | edt | police

[defaults]                               # M-Lab's published default allocation
cpu = 1.0                                # cores
memory = "1GiB"
disk = "20GB"
disk_io = "10%"
bandwidth = "100Mbit"                    # per direction, averaged over `window`
window = "5m"
min_rate = "1%"                          # of bandwidth, or an absolute rate

[[experiment]]
name = "ndt"
addresses = ["198.18.0.10", "2001:db8::10"]
bandwidth = "2.5Gbit"                    # any default can be overridden per experiment
)";

inline Config parse_ok(std::string_view text) {
  const ConfigResult r = parse_config(text, "test.toml");
  for (const auto& e : r.errors) UNSCOPED_INFO("unexpected error: " << e.to_string());
  REQUIRE(r.errors.empty());
  REQUIRE(r.config.has_value());
  return *r.config;
}

inline std::vector<ConfigError> parse_errors(std::string_view text) {
  const ConfigResult r = parse_config(text, "test.toml");
  CHECK_FALSE(r.config.has_value());
  REQUIRE_FALSE(r.errors.empty());
  return r.errors;
}

// The 1-based line of the first line of `text` that contains `marker`.
inline int line_of(std::string_view text, std::string_view marker) {
  const auto pos = text.find(marker);
  REQUIRE(pos != std::string_view::npos);
  int line = 1;
  for (std::size_t i = 0; i < pos; ++i) line += text[i] == '\n';
  return line;
}

inline std::string describe(const std::vector<ConfigError>& errors) {
  std::ostringstream out;
  for (const auto& e : errors) out << "\n  [key=" << e.key << "] " << e.to_string();
  return out.str();
}

inline void check_same_allocation(const Allocation& a, const Allocation& b) {
  CHECK(a.cpu_cores == b.cpu_cores);
  CHECK(a.memory_bytes == b.memory_bytes);
  CHECK(a.disk_bytes == b.disk_bytes);
  CHECK(a.disk_io_fraction == b.disk_io_fraction);
  CHECK(a.bandwidth_bits == b.bandwidth_bits);
  CHECK(a.window == b.window);
  CHECK(a.min_rate.is_fraction == b.min_rate.is_fraction);
  if (a.min_rate.is_fraction) {
    CHECK(a.min_rate.fraction == b.min_rate.fraction);
  } else {
    CHECK(a.min_rate.bits_per_second == b.min_rate.bits_per_second);
  }
  CHECK(a.min_rate_bits() == b.min_rate_bits());
}

// Everything but the experiments' `line` (where they start in their text).
inline void check_same_config(const Config& a, const Config& b) {
  CHECK(a.daemon.tick == b.daemon.tick);
  CHECK(a.daemon.state_dir == b.daemon.state_dir);
  CHECK(a.daemon.control_socket == b.daemon.control_socket);
  CHECK(a.daemon.bpf_pin_dir == b.daemon.bpf_pin_dir);
  CHECK(a.daemon.metrics_listen == b.daemon.metrics_listen);
  CHECK(a.daemon.cgroup_root == b.daemon.cgroup_root);
  CHECK(a.daemon.max_experiments == b.daemon.max_experiments);
  CHECK(a.daemon.project_id_base == b.daemon.project_id_base);
  CHECK(a.daemon.quota_check_interval == b.daemon.quota_check_interval);
  CHECK(a.daemon.cgroup_manager == b.daemon.cgroup_manager);
  CHECK(a.network.interfaces == b.network.interfaces);
  CHECK(a.network.link_rate_bits == b.network.link_rate_bits);
  CHECK(a.network.enforcement == b.network.enforcement);
  {
    INFO("defaults");
    check_same_allocation(a.defaults, b.defaults);
  }
  REQUIRE(a.experiments.size() == b.experiments.size());
  for (std::size_t i = 0; i < a.experiments.size(); ++i) {
    INFO("experiment " << i << " (" << a.experiments[i].name << ")");
    CHECK(a.experiments[i].name == b.experiments[i].name);
    CHECK(a.experiments[i].addresses == b.experiments[i].addresses);
    CHECK(a.experiments[i].cgroup == b.experiments[i].cgroup);
    CHECK(a.experiments[i].data_dir == b.experiments[i].data_dir);
    CHECK(a.experiments[i].project_id == b.experiments[i].project_id);
    CHECK(a.experiments[i].pinned_rate_bits == b.experiments[i].pinned_rate_bits);
    check_same_allocation(a.experiments[i].allocation, b.experiments[i].allocation);
  }
  REQUIRE(a.devices.size() == b.devices.size());
  for (std::size_t i = 0; i < a.devices.size(); ++i) {
    INFO("device " << i << " (" << a.devices[i].path << ")");
    CHECK(a.devices[i].path == b.devices[i].path);
    CHECK(a.devices[i].read_bps == b.devices[i].read_bps);
    CHECK(a.devices[i].write_bps == b.devices[i].write_bps);
    CHECK(a.devices[i].read_iops == b.devices[i].read_iops);
    CHECK(a.devices[i].write_iops == b.devices[i].write_iops);
  }
}

}  // namespace enforcer::test
