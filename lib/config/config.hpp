// The daemon's configuration (TOML; the contract: config/enforcer.toml.5). Parsing is a pure
// function of the text and, for experiments given by index, of the kernel command line it reads
// through a CmdlineReader; every problem is reported with the key, the value and the line.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/address.hpp"
#include "base/expected.hpp"

namespace enforcer {

// The smallest rate the datapath holds to: it works in bytes per second, so 1 byte/s.
inline constexpr std::uint64_t kMinRateBits = 8;

enum class Enforcement { kAuto, kEdt, kPolice };

// What a clean stop (SIGTERM, SIGINT) does with the datapath. kHold: it stays attached and pinned,
// every experiment held to its allocation A (or its pinned rate) until the next daemon adopts it,
// so an upgrade or a rolling update leaves no gap. kRemove: detached and unpinned; the node is not
// enforced until the next start.
enum class OnStop { kHold, kRemove };
// Who sets an experiment's cgroup limits (lib/pods/pod_limits.hpp): kAuto, systemd for a pod that
// is a systemd unit and the files for the others; kSystemd, the same, but a machine whose PID 1 is
// not systemd or a pod that is not a unit is reported as an error; kCgroupfs, always the files.
enum class CgroupManager { kAuto, kSystemd, kCgroupfs };

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
  // min_rate written as 0 ("0%", "0bit"): once the budget is spent nothing passes until the
  // window frees budget (a hard stop). Any other min_rate must come to at least kMinRateBits.
  bool min_rate_is_stop() const;
  // A message when min_rate is neither a stop nor a rate the datapath can hold; else empty.
  std::string min_rate_problem() const;
};

// min_rate as written in a config: "1%" or "800Kbit".
std::string format_min_rate(const MinRate& m);

// The shortest prefix an experiment's addresses may have without `wide_prefixes = true`.
constexpr int kShortestPrefixV4 = 24;
constexpr int kShortestPrefixV6 = 64;

struct ExperimentConfig {
  std::string name;
  std::vector<Prefix> addresses;
  // A glob (fnmatch(3) with FNM_PATHNAME: `*` stays within one path component) over the paths
  // of pod cgroups relative to daemon.cgroup_root, e.g.
  // "kubepods.slice/kubepods-besteffort.slice/*". It finds the experiment's cgroup directly, for
  // host-network experiments (which have no addresses of their own); empty: the cgroup is found
  // from the addresses of its network namespace. Relative, without empty, "." or ".." parts.
  std::string cgroup;
  // The experiment's data directory (absolute), limited to allocation.disk_bytes with a project
  // quota; empty: no disk quota.
  std::string data_dir;
  // The project id of data_dir: as configured, or daemon.project_id_base + the experiment's
  // 1-based position among the [[experiment]] tables. 0 exactly when data_dir is empty.
  std::uint32_t project_id = 0;
  Allocation allocation;
  // A manual throttle: holds the experiment to this rate (bits/s, each direction) whatever its
  // budget; 0: none.
  std::uint64_t pinned_rate_bits = 0;
  // The experiment's M-Lab index (1..255) when the file gives `index = N` instead of addresses:
  // `addresses` then holds the IPv4 and IPv6 address derived from the host's epoxy.ipv4= and
  // epoxy.ipv6= kernel parameters (lib/config/index2ip.hpp). 0: the addresses are as written.
  std::uint32_t index = 0;
  // Whether `addresses` may hold prefixes shorter than kShortestPrefixV4 / V6 (/24, /64):
  // such a prefix can take the host's own traffic (ssh, the kubelet) into the experiment's limit,
  // so it must be asked for. /0 is refused always.
  bool wide_prefixes = false;
  // Its pod need not run on every machine: absent, it is an ordinary state (exported as
  // enforcer_experiment_optional; the pod-not-found alert leaves it out). Enforced alike when
  // found.
  bool optional = false;
  int line = 0;      // where its [[experiment]] table starts
  std::string file;  // the file of `line` (the main file or a drop-in)
  // The experiment's id in the datapath and the experiment table (1..daemon.max_experiments):
  // its 1-based position when the file is loaded; the daemon keeps an experiment's id across
  // reloads and restarts (lib/config/reload_plan.hpp), so it is a position only until the first
  // reload.
  std::uint32_t id = 0;
};

struct DaemonConfig {
  std::chrono::nanoseconds tick = std::chrono::seconds(1);
  std::string state_dir = "/var/lib/enforcer";
  std::string control_socket = "/run/enforcer/control.sock";
  // Members of this group may read through the control socket (root may also change); empty:
  // root only. A group that does not exist is reported at start and means root only.
  std::string control_group = "enforcer";
  std::string bpf_pin_dir = "/sys/fs/bpf/enforcer";
  std::string metrics_listen = "127.0.0.1:9724";
  std::string cgroup_root;  // empty: found from /proc/self/mounts
  std::uint32_t max_experiments = 4096;
  // Experiments without an explicit project_id get project_id_base + their position.
  std::uint32_t project_id_base = 10000;
  // How often each data_dir is walked again for files and directories that lost their project id
  // (a file's owner may reset it to 0 and then write without limit).
  std::chrono::nanoseconds quota_check_interval = std::chrono::minutes(10);
  // The name drop-ins' [match] tables are matched against; empty: the kernel's (gethostname).
  // Only the main file may set it (it chooses the drop-ins).
  std::string hostname;
  // Read when the daemon stops: a reload may change it.
  OnStop on_stop = OnStop::kHold;
  CgroupManager cgroup_manager = CgroupManager::kAuto;
  // Where each experiment's status file goes (lib/control/status_files.hpp); empty: none.
  std::string status_dir = "/run/enforcer/experiments";
};

// A block device whose capacity the disk_io allocation shares out ([[device]] tables). Each
// experiment's io.max on the device is its disk_io fraction of each configured capacity.
struct DeviceConfig {
  std::string path;              // e.g. "/dev/vda"; symlinks (/dev/disk/by-id/...) are followed
  std::uint64_t read_bps = 0;    // bytes/s; 0: not configured (no limit: "max")
  std::uint64_t write_bps = 0;   // bytes/s; 0: not configured
  std::uint64_t read_iops = 0;   // 0: not configured
  std::uint64_t write_iops = 0;  // 0: not configured
  // Set by resolve_devices(), never by the parser.
  bool resolved = false;
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  int line = 0;      // where its [[device]] table starts
  std::string file;  // the file of `line`
};

// network.interfaces = ["auto"]: the uplink is whichever interface holds the host's address.
inline constexpr std::string_view kAutoInterface = "auto";

struct NetworkConfig {
  std::vector<std::string> interfaces = {"eth0"};  // or {"auto"}
  std::uint64_t link_rate_bits = 10'000'000'000ULL;
  Enforcement enforcement = Enforcement::kAuto;
  // Where the kernel command line is read for experiments given by index (epoxy.ipv4=,
  // epoxy.ipv6=); tests point it at a file.
  std::string kernel_cmdline = "/proc/cmdline";
  // interfaces = ["auto"]: the host's address (epoxy.ipv4= in kernel_cmdline), set by the parser;
  // the daemon attaches to the interface holding it and follows it to another.
  std::optional<Prefix> uplink_address;
};

// An [[override]] table: one resource of one experiment's allocation replaced until `until` (or
// for good), reviewed and delivered with the configuration. `resource` and `value` are checked as
// `enforcerctl override set` checks its arguments (lib/config/override_value.hpp; `throttle` is
// taken too: a manual throttle at that rate); the checks against the experiment's allocation and
// the node (link rate, tick) are lib/control's check_config_overrides(). Within one file an
// experiment and resource may be given once; a later file's replaces an earlier file's.
struct ConfigOverride {
  std::string experiment;
  std::string resource;  // a name of kResourceNames
  std::string value;     // canonical text ("2.5Gbit")
  std::string reason;
  std::optional<std::int64_t> until_unix;  // Unix seconds; none: until the config drops it
  int line = 0;                            // where its [[override]] table starts
  std::string file;                        // the file of `line`
};

struct Config {
  DaemonConfig daemon;
  NetworkConfig network;
  Allocation defaults;
  std::vector<ExperimentConfig> experiments;
  std::vector<DeviceConfig> devices;
  std::vector<ConfigOverride> overrides;  // in file order, one per experiment and resource
};

struct ConfigError {
  std::string source;  // file name
  int line = 0;        // 0: no particular line
  std::string key;     // e.g. "defaults.bandwidth" or "experiment[2].addresses"
  std::string message;
  std::string to_string() const;
};

// Where a value of the effective configuration was written: a file and line, and the file its
// value was read from when it was written "@/path".
struct ValueOrigin {
  std::string file;
  int line = 0;
  std::string value_file;
};

// A drop-in whose [match] does not take this host, and why.
struct SkippedDropin {
  std::string file;
  std::string why;
};

// What a configuration was read from (load_config, lib/config/config_files.hpp); empty for
// parse_config of one text.
struct ConfigSources {
  std::string dropin_dir;          // the drop-in directory looked at (it may not exist)
  std::vector<std::string> files;  // the main file, then each drop-in applied, in order
  std::vector<SkippedDropin> skipped;
  // The files "@/path" values were read from (a change to one changes the configuration). Kept
  // also when the configuration has errors: as far as the loading got.
  std::vector<std::string> watched_files;
  // Experiments left out on this host by `enabled = false` (`experiment "wehe"`) -> where that
  // was written.
  std::map<std::string, ValueOrigin> disabled;
  // Where each value was written, by key: "daemon.tick", "defaults.bandwidth",
  // `experiment "ndt".bandwidth` (and `experiment "ndt"` for the table), `device "/dev/vda".path`.
  std::map<std::string, ValueOrigin> origins;
};

struct ConfigResult {
  std::optional<Config> config;  // set exactly when errors is empty
  std::vector<ConfigError> errors;
  ConfigSources sources;
};

// Reads the kernel command line at a path (network.kernel_cmdline). The parser calls it once, and
// only when an experiment is given by index.
using CmdlineReader = std::function<Expected<std::string>(const std::string& path)>;
// The default reader: the file's whole text.
Expected<std::string> read_cmdline_file(const std::string& path);

ConfigResult parse_config(std::string_view text, std::string_view source = "config",
                          const CmdlineReader& read_cmdline = read_cmdline_file);
// The main file at `path`, then the drop-ins of enforcer.d beside it (lib/config/config_files.hpp
// has the version with every file access injectable).
ConfigResult load_config(const std::string& path,
                         const CmdlineReader& read_cmdline = read_cmdline_file);
// The effective configuration (defaults applied) as TOML that parse_config accepts. With
// `sources`, each value carries a comment saying where it was written (`# from FILE:LINE`, or
// `# default`), after a header naming the files read, the drop-ins skipped and the experiments
// disabled.
std::string format_config(const Config& config, const ConfigSources* sources = nullptr);

// Checks each [[device]] against the running system (not part of parse_config, which is pure):
// the path must exist and be a whole block device (io.max rejects partitions); sets major and
// minor from its st_rdev. Errors name the device's file (`source` when it has none); `sysfs` is
// where sysfs is mounted (consulted to recognise partitions; skipped where it has no entry for the
// device).
std::vector<ConfigError> resolve_devices(Config& config, std::string_view source = "config",
                                         const std::string& sysfs = "/sys");

std::string_view to_string(Enforcement e);
std::string_view to_string(OnStop s);
std::string_view to_string(CgroupManager m);

}  // namespace enforcer
