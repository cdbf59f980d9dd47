// The daemon's configuration (TOML; the contract is in DESIGN.md). Parsing is a pure function of
// the text; every problem is reported with the key, the value and the line.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "address.hpp"

namespace enforcer {

enum class Enforcement { kAuto, kEdt, kPolice };

// The floor rate that keeps control connections alive: a fraction of the allocation or a rate.
struct MinRate {
  bool is_fraction = true;
  double fraction = 0.01;
  std::uint64_t bits_per_second = 0;
};

// One experiment's allocation (M-Lab's published defaults, or an override).
struct Allocation {
  double cpu_cores = 1.0;
  std::uint64_t memory_bytes = 1ULL << 30;
  std::uint64_t disk_bytes = 20'000'000'000ULL;
  double disk_io_fraction = 0.10;
  std::uint64_t bandwidth_bits = 100'000'000ULL;  // per direction, averaged over `window`
  std::chrono::nanoseconds window = std::chrono::minutes(5);
  MinRate min_rate;

  std::uint64_t bandwidth_bytes_per_second() const { return bandwidth_bits / 8; }
  std::uint64_t min_rate_bits() const;
};

struct ExperimentConfig {
  std::string name;
  std::vector<Prefix> addresses;
  Allocation allocation;
  // A manual throttle: holds the experiment to this rate (bits/s, each direction) whatever its
  // budget; 0: none.
  std::uint64_t pinned_rate_bits = 0;
  int line = 0;  // where its [[experiment]] table starts
};

struct DaemonConfig {
  std::chrono::nanoseconds tick = std::chrono::seconds(1);
  std::string state_dir = "/var/lib/enforcer";
  std::string control_socket = "/run/enforcer/control.sock";
  std::string bpf_pin_dir = "/sys/fs/bpf/enforcer";
  std::string metrics_listen = "127.0.0.1:9724";
  std::string cgroup_root;  // empty: found from /proc/self/mounts
  std::uint32_t max_experiments = 4096;
};

struct NetworkConfig {
  std::vector<std::string> interfaces = {"eth0"};
  std::uint64_t link_rate_bits = 10'000'000'000ULL;
  Enforcement enforcement = Enforcement::kAuto;
};

struct Config {
  DaemonConfig daemon;
  NetworkConfig network;
  Allocation defaults;
  std::vector<ExperimentConfig> experiments;
};

struct ConfigError {
  std::string source;  // file name
  int line = 0;        // 0: no particular line
  std::string key;     // e.g. "defaults.bandwidth" or "experiment[2].addresses"
  std::string message;
  std::string to_string() const;
};

struct ConfigResult {
  std::optional<Config> config;  // set exactly when errors is empty
  std::vector<ConfigError> errors;
};

ConfigResult parse_config(std::string_view text, std::string_view source = "config");
ConfigResult load_config(const std::string& path);
// The effective configuration (defaults applied) as TOML that parse_config accepts.
std::string format_config(const Config& config);

std::string_view to_string(Enforcement e);

}  // namespace enforcer
