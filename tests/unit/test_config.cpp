// The configuration contract (config/enforcer.toml.5): values, defaults, overrides, round trips,
// and errors that name the key, the value and the line.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

using namespace enforcer;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

// The configuration contract's example, verbatim.
constexpr std::string_view kDesignExample = R"([daemon]
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

Config parse_ok(std::string_view text) {
  const ConfigResult r = parse_config(text, "test.toml");
  for (const auto& e : r.errors) UNSCOPED_INFO("unexpected error: " << e.to_string());
  REQUIRE(r.errors.empty());
  REQUIRE(r.config.has_value());
  return *r.config;
}

std::vector<ConfigError> parse_errors(std::string_view text) {
  const ConfigResult r = parse_config(text, "test.toml");
  CHECK_FALSE(r.config.has_value());
  REQUIRE_FALSE(r.errors.empty());
  return r.errors;
}

// The 1-based line of the first line of `text` that contains `marker`.
int line_of(std::string_view text, std::string_view marker) {
  const auto pos = text.find(marker);
  REQUIRE(pos != std::string_view::npos);
  int line = 1;
  for (std::size_t i = 0; i < pos; ++i) line += text[i] == '\n';
  return line;
}

std::string describe(const std::vector<ConfigError>& errors) {
  std::ostringstream out;
  for (const auto& e : errors) out << "\n  [key=" << e.key << "] " << e.to_string();
  return out.str();
}

void check_same_allocation(const Allocation& a, const Allocation& b) {
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
void check_same_config(const Config& a, const Config& b) {
  CHECK(a.daemon.tick == b.daemon.tick);
  CHECK(a.daemon.state_dir == b.daemon.state_dir);
  CHECK(a.daemon.control_socket == b.daemon.control_socket);
  CHECK(a.daemon.bpf_pin_dir == b.daemon.bpf_pin_dir);
  CHECK(a.daemon.metrics_listen == b.daemon.metrics_listen);
  CHECK(a.daemon.cgroup_root == b.daemon.cgroup_root);
  CHECK(a.daemon.max_experiments == b.daemon.max_experiments);
  CHECK(a.daemon.project_id_base == b.daemon.project_id_base);
  CHECK(a.daemon.quota_check_interval == b.daemon.quota_check_interval);
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

}  // namespace

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

namespace {

struct ErrorCase {
  const char* what;
  const char* text;    // the offending value's line carries the comment "# <-"
  const char* key;     // expected ConfigError::key; alternatives separated by '|'
  const char* needle;  // the message contains this (the offending value as written)
};

bool key_matches(const std::string& key, std::string_view alternatives) {
  while (true) {
    const auto bar = alternatives.find('|');
    if (key == alternatives.substr(0, bar)) return true;
    if (bar == std::string_view::npos) return false;
    alternatives.remove_prefix(bar + 1);
  }
}

// One defect per document: exactly one error, at the marked line, naming key and value.
const ErrorCase kErrorCases[] = {
    // Unknown keys, in each section.
    {"unknown top-level key", "colour = \"blue\" # <-\n", "colour", "colour"},
    {"unknown key in [daemon]", "[daemon]\ntick = \"1s\"\ntik = \"1s\" # <-\n", "daemon.tik",
     "tik"},
    {"unknown key in [network]", "[network]\ninterface = \"eth0\" # <-\n", "network.interface",
     "interface"},
    {"unknown key in [defaults]", "[defaults]\nbandwith = \"100Mbit\" # <-\n", "defaults.bandwith",
     "bandwith"},
    {"unknown key in [[experiment]]",
     "[[experiment]]\naddresses = [\"198.18.0.101\"]\nname = \"ndt\"\nbandwith = \"1Gbit\" # <-\n",
     "experiment[1].bandwith|experiment \"ndt\".bandwith", "bandwith"},
    // Bad rates.
    {"bad rate: defaults.bandwidth", "[defaults]\nbandwidth = \"100Mbps\" # <-\n",
     "defaults.bandwidth", "100Mbps"},
    {"rate without unit", "[defaults]\nbandwidth = \"100\" # <-\n", "defaults.bandwidth",
     "\"100\""},
    {"negative rate", "[defaults]\nbandwidth = \"-5Mbit\" # <-\n", "defaults.bandwidth", "-5Mbit"},
    {"bad rate: network.link_rate", "[network]\nlink_rate = \"10GB\" # <-\n", "network.link_rate",
     "10GB"},
    {"bad rate: experiment bandwidth",
     "[[experiment]]\naddresses = [\"198.18.0.102\"]\nname = \"ndt\"\nbandwidth = \"2.5Gbps\" # "
     "<-\n",
     "experiment[1].bandwidth|experiment \"ndt\".bandwidth", "2.5Gbps"},
    {"bad rate: defaults.min_rate", "[defaults]\nmin_rate = \"1Mbps\" # <-\n", "defaults.min_rate",
     "1Mbps"},
    // Bad sizes.
    {"bad size: defaults.memory", "[defaults]\nmemory = \"1Gib\" # <-\n", "defaults.memory",
     "1Gib"},
    {"bad size: defaults.disk", "[defaults]\ndisk = \"20 gigabytes\" # <-\n", "defaults.disk",
     "20 gigabytes"},
    {"negative size", "[defaults]\nmemory = \"-1GiB\" # <-\n", "defaults.memory", "-1GiB"},
    {"bad size: experiment memory",
     "[[experiment]]\naddresses = [\"198.18.0.103\"]\nname = \"ndt\"\nmemory = \"2GiBs\" # <-\n",
     "experiment[1].memory|experiment \"ndt\".memory", "2GiBs"},
    // Bad durations.
    {"bad duration: daemon.tick", "[daemon]\ntick = \"1sec\" # <-\n", "daemon.tick", "1sec"},
    {"bad duration: defaults.window", "[defaults]\nwindow = \"5min\" # <-\n", "defaults.window",
     "5min"},
    {"duration without unit", "[defaults]\nwindow = \"300\" # <-\n", "defaults.window", "\"300\""},
    {"bad duration: experiment window",
     "[[experiment]]\naddresses = [\"198.18.0.104\"]\nname = \"ndt\"\nwindow = \"10 minutes\" # "
     "<-\n",
     "experiment[1].window|experiment \"ndt\".window", "10 minutes"},
    // Bad percentages.
    {"percent without %", "[defaults]\ndisk_io = \"10\" # <-\n", "defaults.disk_io", "\"10\""},
    {"percent above 100", "[defaults]\ndisk_io = \"150%\" # <-\n", "defaults.disk_io", "150%"},
    {"min_rate above 100%", "[defaults]\nmin_rate = \"101%\" # <-\n", "defaults.min_rate", "101%"},
    {"bad percent: experiment disk_io",
     "[[experiment]]\naddresses = [\"198.18.0.105\"]\nname = \"ndt\"\ndisk_io = \"abc%\" # <-\n",
     "experiment[1].disk_io|experiment \"ndt\".disk_io", "abc%"},
    // Wrong TOML types.
    {"integer rate", "[defaults]\nbandwidth = 100000000 # <-\n", "defaults.bandwidth", "100000000"},
    {"float size", "[defaults]\nmemory = 1.5 # <-\n", "defaults.memory", "1.5"},
    {"negative integer size", "[defaults]\ndisk = -20 # <-\n", "defaults.disk", "-20"},
    {"integer duration", "[daemon]\ntick = 1000 # <-\n", "daemon.tick", "1000"},
    {"integer window", "[defaults]\nwindow = 300 # <-\n", "defaults.window", "300"},
    {"float min_rate", "[defaults]\nmin_rate = 0.01 # <-\n", "defaults.min_rate", "0.01"},
    {"boolean percent", "[defaults]\ndisk_io = true # <-\n", "defaults.disk_io", "true"},
    {"string cpu", "[defaults]\ncpu = \"one\" # <-\n", "defaults.cpu", "one"},
    {"zero cpu", "[defaults]\ncpu = 0 # <-\n", "defaults.cpu", "0"},
    {"negative cpu", "[defaults]\ncpu = -1.5 # <-\n", "defaults.cpu", "-1.5"},
    {"integer state_dir", "[daemon]\nstate_dir = 5 # <-\n", "daemon.state_dir", "5"},
    {"string max_experiments", "[daemon]\nmax_experiments = \"many\" # <-\n",
     "daemon.max_experiments", "many"},
    {"zero max_experiments", "[daemon]\nmax_experiments = 0 # <-\n", "daemon.max_experiments", "0"},
    {"string interfaces", "[network]\ninterfaces = \"eth0\" # <-\n", "network.interfaces", "eth0"},
    {"integer enforcement", "[network]\nenforcement = 1 # <-\n", "network.enforcement", "1"},
    {"string addresses", "[[experiment]]\nname = \"ndt\"\naddresses = \"198.18.0.10\" # <-\n",
     "experiment[1].addresses|experiment \"ndt\".addresses", "198.18.0.10"},
    {"integer address", "[[experiment]]\nname = \"ndt\"\naddresses = [\n  42, # <-\n]\n",
     "experiment[1].addresses|experiment \"ndt\".addresses", "42"},
    {"integer experiment name", "[[experiment]]\naddresses = [\"198.18.0.106\"]\nname = 5 # <-\n",
     "experiment[1].name", "5"},
    // Interfaces.
    {"interface name with a slash",
     "[network]\ninterfaces = [\n  \"eth0\",\n  \"eth/1\", # <-\n]\n", "network.interfaces",
     "eth/1"},
    {"interface name too long",
     "[network]\ninterfaces = [\"eth0\",\n  \"this-name-is-too-long\"] # <-\n",
     "network.interfaces", "this-name-is-too-long"},
    {"empty interface name", "[network]\ninterfaces = [\"\"] # <-\n", "network.interfaces", "\"\""},
    {"interface listed twice", "[network]\ninterfaces = [\"eth0\",\n  \"eth0\"] # <-\n",
     "network.interfaces", "eth0"},
    {"empty interfaces list", "[network]\ninterfaces = [] # <-\n", "network.interfaces",
     "interfaces"},
    // Enforcement.
    {"bad enforcement", "[network]\nenforcement = \"tbf\" # <-\n", "network.enforcement", "tbf"},
    {"enforcement in capitals", "[network]\nenforcement = \"EDT\" # <-\n", "network.enforcement",
     "EDT"},
    // metrics_listen.
    {"metrics_listen without port", "[daemon]\nmetrics_listen = \"localhost\" # <-\n",
     "daemon.metrics_listen", "localhost"},
    {"metrics_listen port out of range", "[daemon]\nmetrics_listen = \"127.0.0.1:99999\" # <-\n",
     "daemon.metrics_listen", "127.0.0.1:99999"},
    {"metrics_listen empty port", "[daemon]\nmetrics_listen = \"127.0.0.1:\" # <-\n",
     "daemon.metrics_listen", "127.0.0.1:"},
    {"metrics_listen unbracketed v6", "[daemon]\nmetrics_listen = \"::1:9724\" # <-\n",
     "daemon.metrics_listen", "::1:9724"},
    {"metrics_listen no host", "[daemon]\nmetrics_listen = \":9724\" # <-\n",
     "daemon.metrics_listen", ":9724"},
    {"metrics_listen port zero", "[daemon]\nmetrics_listen = \"127.0.0.1:0\" # <-\n",
     "daemon.metrics_listen", "127.0.0.1:0"},
    // Relative paths.
    {"relative state_dir", "[daemon]\nstate_dir = \"var/lib/enforcer\" # <-\n", "daemon.state_dir",
     "var/lib/enforcer"},
    {"relative control_socket", "[daemon]\ncontrol_socket = \"control.sock\" # <-\n",
     "daemon.control_socket", "control.sock"},
    {"relative bpf_pin_dir", "[daemon]\nbpf_pin_dir = \"./bpf\" # <-\n", "daemon.bpf_pin_dir",
     "./bpf"},
    // Windows and ticks.
    {"window not a multiple of tick",
     "[daemon]\ntick = \"2s\"\n[defaults]\nwindow = \"301s\" # <-\n", "defaults.window", "301s"},
    {"window shorter than two ticks", "[defaults]\nwindow = \"1s\" # <-\n", "defaults.window",
     "1s"},
    {"experiment window not a multiple of tick",
     "[daemon]\ntick = \"1s\"\n[[experiment]]\naddresses = [\"198.18.0.107\"]\nname = "
     "\"ndt\"\nwindow = \"2500ms\" # <-\n",
     "experiment[1].window|experiment \"ndt\".window", "2500ms"},
    {"tick below 10ms", "[daemon]\ntick = \"5ms\" # <-\n", "daemon.tick", "5ms"},
    {"tick above 1m", "[daemon]\ntick = \"5m\" # <-\n", "daemon.tick", "5m"},
    // min_rate > bandwidth.
    {"min_rate above bandwidth",
     "[defaults]\nbandwidth = \"100Mbit\"\nmin_rate = \"200Mbit\" # <-\n", "defaults.min_rate",
     "200Mbit"},
    {"experiment min_rate above its bandwidth",
     "[[experiment]]\naddresses = [\"198.18.0.108\"]\nname = \"ndt\"\nbandwidth = "
     "\"1Mbit\"\nmin_rate = \"2Mbit\" # <-\n",
     "experiment[1].min_rate|experiment \"ndt\".min_rate", "2Mbit"},
    // Experiments.
    {"experiment without name", "[[experiment]] # <-\naddresses = [\"198.18.0.10\"]\n",
     "experiment[1].name", "name"},
    {"experiment name with a space",
     "[[experiment]]\naddresses = [\"198.18.0.109\"]\nname = \"n d t\" # <-\n",
     "experiment[1].name", "n d t"},
    {"experiment name with a slash",
     "[[experiment]]\naddresses = [\"198.18.0.110\"]\nname = \"ndt/1\" # <-\n",
     "experiment[1].name", "ndt/1"},
    {"empty experiment name", "[[experiment]]\naddresses = [\"198.18.0.111\"]\nname = \"\" # <-\n",
     "experiment[1].name", "\"\""},
    {"experiment name too long",
     "[[experiment]]\naddresses = [\"198.18.0.112\"]\nname = "
     "\"a234567890123456789012345678901234567890123456789012345678901234\" # <-\n",
     "experiment[1].name", "a234567890123456789012345678901234567890123456789012345678901234"},
    {"second experiment's bad name",
     "[[experiment]]\naddresses = [\"198.18.0.113\"]\nname = \"ndt\"\n[[experiment]]\naddresses = "
     "[\"198.18.0.114\"]\nname = \"w@he\" # <-\n",
     "experiment[2].name", "w@he"},
    {"bad address", "[[experiment]]\nname = \"ndt\"\naddresses = [\"198.18.0.300\"] # <-\n",
     "experiment[1].addresses|experiment \"ndt\".addresses", "198.18.0.300"},
    {"address with host bits",
     "[[experiment]]\nname = \"ndt\"\naddresses = [\n  \"198.18.0.10\",\n  \"198.18.1.1/24\", # "
     "<-\n]\n",
     "experiment[1].addresses|experiment \"ndt\".addresses", "198.18.1.1/24"},
    // TOML syntax.
    {"unterminated string", "[defaults]\nbandwidth = \"100Mbit # <-\n", "", "syntax"},
    {"bare word value", "[daemon]\ntick = \"1s\"\nstate_dir = /var/lib # <-\n", "", "syntax"},
    {"duplicate key", "[defaults]\nmemory = \"1GiB\"\nmemory = \"2GiB\" # <-\n", "", "memory"},
    // Discovery: addresses or a cgroup glob.
    {"experiment with neither addresses nor cgroup", "[[experiment]] # <-\nname = \"ndt\"\n",
     "experiment \"ndt\".addresses", "\"ndt\""},
    {"experiment with empty addresses and no cgroup",
     "[[experiment]]\nname = \"ndt\"\naddresses = [] # <-\n", "experiment \"ndt\".addresses",
     "cgroup"},
    {"absolute cgroup glob", "[[experiment]]\nname = \"ndt\"\ncgroup = \"/sys/fs/cgroup/x\" # <-\n",
     "experiment \"ndt\".cgroup", "\"/sys/fs/cgroup/x\""},
    {"cgroup glob with ..", "[[experiment]]\nname = \"ndt\"\ncgroup = \"system.slice/../x\" # <-\n",
     "experiment \"ndt\".cgroup", "system.slice/../x"},
    {"cgroup glob with an empty component",
     "[[experiment]]\nname = \"ndt\"\ncgroup = \"system.slice//x\" # <-\n",
     "experiment \"ndt\".cgroup", "system.slice//x"},
    {"empty cgroup glob", "[[experiment]]\nname = \"ndt\"\ncgroup = \"\" # <-\n",
     "experiment \"ndt\".cgroup", "\"\""},
    {"integer cgroup glob", "[[experiment]]\nname = \"ndt\"\ncgroup = 5 # <-\n",
     "experiment \"ndt\".cgroup", "5"},
    {"cgroup glob of two experiments",
     "[[experiment]]\nname = \"a\"\ncgroup = \"x/*.scope\"\n[[experiment]]\nname = \"b\"\ncgroup = "
     "\"x/*.scope\" # <-\n",
     "experiment \"b\".cgroup", "x/*.scope"},
    {"relative cgroup_root", "[daemon]\ncgroup_root = \"sys/fs/cgroup\" # <-\n",
     "daemon.cgroup_root", "sys/fs/cgroup"},
    // Disk quota: data_dir and project ids.
    {"relative data_dir",
     "[[experiment]]\nname = \"ndt\"\naddresses = [\"198.18.0.1\"]\ndata_dir = \"cache/ndt\" # "
     "<-\n",
     "experiment \"ndt\".data_dir", "cache/ndt"},
    {"data_dir /",
     "[[experiment]]\nname = \"ndt\"\naddresses = [\"198.18.0.1\"]\ndata_dir = \"/\" # <-\n",
     "experiment \"ndt\".data_dir", "\"/\""},
    {"integer data_dir",
     "[[experiment]]\nname = \"ndt\"\naddresses = [\"198.18.0.1\"]\ndata_dir = 7 # <-\n",
     "experiment \"ndt\".data_dir", "7"},
    {"data_dir of two experiments",
     "[[experiment]]\nname = \"a\"\naddresses = [\"198.18.0.1\"]\ndata_dir = \"/cache/x\"\n"
     "[[experiment]]\nname = \"b\"\naddresses = [\"198.18.0.2\"]\ndata_dir = \"/cache/x/\" # <-\n",
     "experiment \"b\".data_dir", "/cache/x/"},
    {"project_id without data_dir",
     "[[experiment]]\nname = \"ndt\"\naddresses = [\"198.18.0.1\"]\nproject_id = 7 # <-\n",
     "experiment \"ndt\".project_id", "7"},
    {"project_id zero",
     "[[experiment]]\nname = \"ndt\"\naddresses = [\"198.18.0.1\"]\ndata_dir = \"/d\"\nproject_id "
     "= 0 "
     "# <-\n",
     "experiment \"ndt\".project_id", "0"},
    {"negative project_id",
     "[[experiment]]\nname = \"ndt\"\naddresses = [\"198.18.0.1\"]\ndata_dir = \"/d\"\nproject_id "
     "= "
     "-3 # <-\n",
     "experiment \"ndt\".project_id", "-3"},
    {"string project_id",
     "[[experiment]]\nname = \"ndt\"\naddresses = [\"198.18.0.1\"]\ndata_dir = \"/d\"\nproject_id "
     "= "
     "\"12\" # <-\n",
     "experiment \"ndt\".project_id", "12"},
    {"project_id above 32 bits",
     "[[experiment]]\nname = \"ndt\"\naddresses = [\"198.18.0.1\"]\ndata_dir = \"/d\"\nproject_id "
     "= "
     "4294967295 # <-\n",
     "experiment \"ndt\".project_id", "4294967295"},
    {"project_id of two experiments",
     "[[experiment]]\nname = \"a\"\naddresses = [\"198.18.0.1\"]\ndata_dir = \"/a\"\nproject_id = "
     "7\n"
     "[[experiment]]\nname = \"b\"\naddresses = [\"198.18.0.2\"]\ndata_dir = \"/b\"\nproject_id = "
     "7 "
     "# <-\n",
     "experiment \"b\".project_id", "\"a\""},
    {"explicit project_id equal to another's derived one",
     "[[experiment]]\nname = \"a\"\naddresses = [\"198.18.0.1\"]\ndata_dir = \"/a\"\n"
     "[[experiment]]\nname = \"b\"\naddresses = [\"198.18.0.2\"]\ndata_dir = \"/b\"\nproject_id = "
     "10001 # <-\n",
     "experiment \"b\".project_id", "10001"},
    {"derived project id equal to another's explicit one",
     "[[experiment]]\nname = \"a\"\naddresses = [\"198.18.0.1\"]\ndata_dir = \"/a\"\nproject_id = "
     "10002\n[[experiment]] # <-\nname = \"b\"\naddresses = [\"198.18.0.2\"]\ndata_dir = \"/b\"\n",
     "experiment \"b\".project_id", "10002"},
    {"derived project id out of range",
     "[daemon]\nproject_id_base = 4294967293\n[[experiment]]\nname = \"a\"\naddresses = "
     "[\"198.18.0.1\"]\n[[experiment]] # <-\nname = \"b\"\naddresses = [\"198.18.0.2\"]\ndata_dir "
     "= \"/b\"\n",
     "experiment \"b\".project_id", "4294967293"},
    {"negative project_id_base", "[daemon]\nproject_id_base = -1 # <-\n", "daemon.project_id_base",
     "-1"},
    {"string project_id_base", "[daemon]\nproject_id_base = \"1000\" # <-\n",
     "daemon.project_id_base", "1000"},
    {"quota_check_interval below 1s", "[daemon]\nquota_check_interval = \"500ms\" # <-\n",
     "daemon.quota_check_interval", "between 1s and 24h"},
    {"quota_check_interval above 24h", "[daemon]\nquota_check_interval = \"25h\" # <-\n",
     "daemon.quota_check_interval", "between 1s and 24h"},
    // Devices.
    {"device as a plain key", "device = \"/dev/vda\" # <-\n", "device", "[[device]]"},
    {"unknown key in [[device]]",
     "[[device]]\npath = \"/dev/vda\"\nread_bps = \"1MB/s\"\nread_bw = \"1MB/s\" # <-\n",
     "device[1].read_bw|device \"/dev/vda\".read_bw", "read_bw"},
    {"device without path", "[[device]] # <-\nread_iops = 100\n", "device[1].path", "path"},
    {"relative device path", "[[device]]\npath = \"vda\" # <-\nread_iops = 100\n", "device[1].path",
     "\"vda\""},
    {"integer device path", "[[device]]\npath = 8 # <-\nread_iops = 100\n", "device[1].path", "8"},
    {"device listed twice",
     "[[device]]\npath = \"/dev/vda\"\nread_iops = 100\n[[device]]\npath = \"/dev/vda\" # <-\n"
     "write_iops = 100\n",
     "device \"/dev/vda\".path", "/dev/vda"},
    {"device without capacity", "[[device]] # <-\npath = \"/dev/vda\"\n", "device \"/dev/vda\"",
     "/dev/vda"},
    {"byte rate in bits", "[[device]]\npath = \"/dev/vda\"\nread_bps = \"200Mbit\" # <-\n",
     "device \"/dev/vda\".read_bps", "200Mbit"},
    {"byte rate per minute", "[[device]]\npath = \"/dev/vda\"\nwrite_bps = \"200MB/min\" # <-\n",
     "device \"/dev/vda\".write_bps", "200MB/min"},
    {"zero byte rate", "[[device]]\npath = \"/dev/vda\"\nwrite_bps = \"0MB/s\" # <-\n",
     "device \"/dev/vda\".write_bps", "0MB/s"},
    {"negative integer byte rate", "[[device]]\npath = \"/dev/vda\"\nread_bps = -5 # <-\n",
     "device \"/dev/vda\".read_bps", "-5"},
    {"float byte rate", "[[device]]\npath = \"/dev/vda\"\nread_bps = 1.5 # <-\n",
     "device \"/dev/vda\".read_bps", "1.5"},
    {"string iops", "[[device]]\npath = \"/dev/vda\"\nread_iops = \"4000\" # <-\n",
     "device \"/dev/vda\".read_iops", "4000"},
    {"zero iops", "[[device]]\npath = \"/dev/vda\"\nwrite_iops = 0 # <-\n",
     "device \"/dev/vda\".write_iops", "0"},
    {"iops above 32 bits", "[[device]]\npath = \"/dev/vda\"\nwrite_iops = 4294967296 # <-\n",
     "device \"/dev/vda\".write_iops", "4294967296"},
};

}  // namespace

TEST_CASE("each malformed value is one error naming its key and value and line", "[config]") {
  for (const ErrorCase& c : kErrorCases) {
    INFO("case: " << c.what << "\n----\n" << c.text << "----");
    const std::vector<ConfigError> errors = parse_errors(c.text);
    INFO("errors:" << describe(errors));
    CHECK(errors.size() == 1);
    const ConfigError& e = errors.front();
    CHECK(e.source == "test.toml");
    CHECK(e.line == line_of(c.text, "# <-"));
    CHECK(key_matches(e.key, c.key));
    CHECK_THAT(e.message, Contains(c.needle));
    // to_string() says where: "test.toml:<line>: <message>".
    CHECK_THAT(e.to_string(), Contains("test.toml:" + std::to_string(e.line) + ": "));
  }
}

TEST_CASE("a zero tick is an error and not a crash", "[config]") {
  // With no [defaults], the default window is checked against the tick: that check must not
  // divide by a zero tick. Each document must yield an error for daemon.tick.
  for (const char* text :
       {"[daemon]\ntick = \"0s\" # <-\n", "[daemon]\ntick = \"0.0000000001s\" # <-\n",
        "[daemon]\ntick = \"0s\" # <-\n[defaults]\nbandwidth = \"1Gbit\"\n"}) {
    INFO(text);
    const std::vector<ConfigError> errors = parse_errors(text);
    INFO("errors:" << describe(errors));
    bool found = false;
    for (const auto& e : errors) {
      if (e.key == "daemon.tick" && e.line == line_of(text, "# <-")) found = true;
    }
    CHECK(found);
  }
}

TEST_CASE("errors quote the value as the file writes it", "[config]") {
  // The contract: an error names the key, the value and the line. Values checked after parsing
  // (window vs tick, min_rate vs bandwidth, zero amounts) must be quoted as written, not in
  // another spelling of the same quantity or not at all.
  struct Case {
    const char* text;
    const char* key;
    const char* needle;
  };
  const Case cases[] = {
      {"[defaults]\nwindow = \"7.5s\" # <-\n", "defaults.window", "7.5s"},
      {"[defaults]\nbandwidth = \"0.1Gbit\"\nmin_rate = \"0.2Gbit\" # <-\n", "defaults.min_rate",
       "0.2Gbit"},
      {"[daemon]\ntick = \"30s\"\n[[experiment]]\nname = \"ndt\"\naddresses = "
       "[\"198.18.0.1\"]\nwindow = \"0.75m\" # <-\n",
       "experiment[1].window|experiment \"ndt\".window", "0.75m"},  // 45 s, tick 30 s
      {"[network]\nlink_rate = \"0Gbit\" # <-\n", "network.link_rate", "0Gbit"},
      {"[defaults]\nmemory = \"0GiB\" # <-\n", "defaults.memory", "0GiB"},
      {"[defaults]\ndisk = \"0GB\" # <-\n", "defaults.disk", "0GB"},
      {"[defaults]\nbandwidth = \"0.005Kbit\" # <-\nmin_rate = \"0bit\"\n", "defaults.bandwidth",
       "0.005Kbit"},
      // min_rate is 0 (a hard stop) or a rate the datapath holds (at least 1 byte/s).
      {"[defaults]\nmin_rate = \"5bit\" # <-\n", "defaults.min_rate", "must be 0 (a hard stop"},
      {"[defaults]\nmin_rate = \"0.000001%\" # <-\n", "defaults.min_rate", "comes to 1 bit/s"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    const std::vector<ConfigError> errors = parse_errors(c.text);
    INFO("errors:" << describe(errors));
    REQUIRE(errors.size() == 1);
    CHECK(key_matches(errors[0].key, c.key));
    CHECK(errors[0].line == line_of(c.text, "# <-"));
    CHECK_THAT(errors[0].message, Contains(c.needle));
  }
  CHECK(parse_config("[defaults]\nmin_rate = \"0%\"\n", "test.toml").errors.empty());
  // A value in another spelling that passes the checks is fine: 0.5m is 30 s, 30 ticks of 1 s.
  CHECK(parse_config("[defaults]\nwindow = \"0.5m\"\n", "test.toml").errors.empty());
}

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

TEST_CASE("several errors in one file are all reported", "[config]") {
  constexpr std::string_view text = R"([daemon]
tick = "1s"
state_dir = "relative/dir"          # <-state_dir
metrics_listen = "127.0.0.1:9724"

[network]
interfaces = ["eth0"]
enforcement = "drop"                # <-enforcement

[defaults]
bandwidth = "100Mbps"               # <-bandwidth
memory = "1GiB"

[[experiment]]
name = "ndt"
addresses = ["198.18.0.10"]
window = "5 min"                    # <-window

[[experiment]]
name = "wehe"
addresses = ["198.18.0.999"]        # <-address
)";
  const std::vector<ConfigError> errors = parse_errors(text);
  INFO("errors:" << describe(errors));
  CHECK(errors.size() == 5);
  struct Expect {
    const char* marker;
    const char* key_part;
    const char* needle;
  };
  for (const Expect& x :
       {Expect{"# <-state_dir", "state_dir", "relative/dir"},
        Expect{"# <-enforcement", "enforcement", "drop"},
        Expect{"# <-bandwidth", "bandwidth", "100Mbps"}, Expect{"# <-window", "window", "5 min"},
        Expect{"# <-address", "addresses", "198.18.0.999"}}) {
    INFO("expected: " << x.marker);
    const int line = line_of(text, x.marker);
    bool found = false;
    for (const auto& e : errors) {
      if (e.line == line && e.key.find(x.key_part) != std::string::npos &&
          e.message.find(x.needle) != std::string::npos) {
        found = true;
      }
    }
    CHECK(found);
  }
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

TEST_CASE("[[device]] tables give each disk's capacity in byte rates and iops", "[config]") {
  constexpr std::string_view text = R"(
[defaults]
disk_io = "10%"

[[device]]
path = "/dev/vda"
read_bps = "200MB/s"
write_bps = "150MB"
read_iops = 4000
write_iops = 3000

[[device]]   # second
path = "/dev/disk/by-id/virtio-data"
write_bps = "1.5GiB/s"

[[device]]
path = "/dev/loop0"
read_bps = 1000000
)";
  const Config c = parse_ok(text);
  REQUIRE(c.devices.size() == 3);
  const DeviceConfig& vda = c.devices[0];
  CHECK(vda.path == "/dev/vda");
  CHECK(vda.read_bps == 200'000'000ULL);
  CHECK(vda.write_bps == 150'000'000ULL);
  CHECK(vda.read_iops == 4000);
  CHECK(vda.write_iops == 3000);
  CHECK_FALSE(vda.resolved);  // parse_config does not look at the system
  const DeviceConfig& data = c.devices[1];
  CHECK(data.line == line_of(text, "# second"));
  CHECK(data.write_bps == 1'610'612'736ULL);
  CHECK(data.read_bps == 0);  // not configured: no limit
  CHECK(data.read_iops == 0);
  CHECK(data.write_iops == 0);
  CHECK(c.devices[2].read_bps == 1'000'000ULL);
  // The printed config writes byte rates per second, and parses back the same.
  const std::string printed = format_config(c);
  CHECK_THAT(printed, Contains("read_bps = \"200MB/s\""));
  CHECK_THAT(printed, Contains("write_bps = \"1536MiB/s\""));
  check_same_config(c, parse_ok(printed));
}

namespace {

// A temporary directory, removed with its contents.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "enforcer-test-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// Some block device node under /dev, if the machine has one (containers may not).
std::optional<std::filesystem::path> some_block_device() {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/dev", ec)) {
    struct stat st {};
    if (::stat(e.path().c_str(), &st) == 0 && S_ISBLK(st.st_mode)) return e.path();
  }
  return std::nullopt;
}

Config with_devices(const std::vector<std::string>& paths) {
  Config c;
  int line = 10;
  for (const auto& p : paths) {
    DeviceConfig d;
    d.path = p;
    d.read_bps = 100'000'000;
    d.line = line++;
    c.devices.push_back(d);
  }
  return c;
}

}  // namespace

TEST_CASE("resolve_devices names each path that is not a block device", "[config]") {
  TempDir tmp;
  const std::string missing = (tmp.path / "no-such-disk").string();
  const std::string file = (tmp.path / "file").string();
  { std::ofstream(file) << "x"; }
  Config c = with_devices({"/dev/null", missing, file, tmp.path.string()});
  const std::vector<ConfigError> errors = resolve_devices(c, "enforcer.toml");
  INFO("errors:" << describe(errors));
  REQUIRE(errors.size() == 4);
  for (std::size_t i = 0; i < errors.size(); ++i) {
    CHECK(errors[i].source == "enforcer.toml");
    CHECK(errors[i].line == c.devices[i].line);
    CHECK_THAT(errors[i].key, Contains(c.devices[i].path));
    CHECK_THAT(errors[i].message, Contains("\"" + c.devices[i].path + "\""));
    CHECK_THAT(errors[i].to_string(),
               Contains("enforcer.toml:" + std::to_string(c.devices[i].line) + ": "));
    CHECK_FALSE(c.devices[i].resolved);
  }
  CHECK_THAT(errors[0].message, Contains("not a block device"));
  CHECK_THAT(errors[0].message, Contains("character device"));
  CHECK_THAT(errors[1].message, Contains("does not exist"));
  CHECK_THAT(errors[2].message, Contains("not a block device"));
  CHECK_THAT(errors[3].message, Contains("not a block device"));
  // No devices, nothing to check.
  Config none;
  CHECK(resolve_devices(none).empty());
}

TEST_CASE("resolve_devices finds major:minor of a block device and rejects partitions",
          "[config]") {
  const auto dev = some_block_device();
  if (!dev) {
    WARN("no block device under /dev: skipped");
    return;
  }
  struct stat st {};
  REQUIRE(::stat(dev->c_str(), &st) == 0);
  const auto major = static_cast<std::uint32_t>(major(st.st_rdev));
  const auto minor = static_cast<std::uint32_t>(minor(st.st_rdev));
  TempDir tmp;
  // An empty sysfs: nothing says it is a partition. A symlink is followed (/dev/disk/by-id/...).
  const auto link = tmp.path / "by-id-disk";
  std::filesystem::create_symlink(*dev, link);
  {
    Config c = with_devices({dev->string(), link.string()});
    const std::string empty_sysfs = (tmp.path / "sys").string();
    const auto errors = resolve_devices(c, "enforcer.toml", empty_sysfs);
    INFO("errors:" << describe(errors));
    // The same device twice is an error on the second.
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].line == c.devices[1].line);
    CHECK_THAT(errors[0].message, Contains(dev->string()));
    CHECK(c.devices[0].resolved);
    CHECK(c.devices[0].major == major);
    CHECK(c.devices[0].minor == minor);
  }
  {
    Config c = with_devices({link.string()});
    CHECK(resolve_devices(c, "enforcer.toml", (tmp.path / "sys").string()).empty());
    CHECK(c.devices[0].resolved);
    CHECK(c.devices[0].major == major);
  }
  // A sysfs that says the device is a partition of "vda".
  const auto sys = tmp.path / "sys2";
  const auto part = sys / "devices/virtual/block/vda/vda1";
  std::filesystem::create_directories(part);
  { std::ofstream(part / "partition") << "1\n"; }
  std::filesystem::create_directories(sys / "dev/block");
  std::filesystem::create_symlink(
      "../../devices/virtual/block/vda/vda1",
      sys / "dev/block" / (std::to_string(major) + ":" + std::to_string(minor)));
  Config c = with_devices({dev->string()});
  const auto errors = resolve_devices(c, "enforcer.toml", sys.string());
  INFO("errors:" << describe(errors));
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0].message, Contains("partition"));
  CHECK_THAT(errors[0].message, Contains("/dev/vda"));
  CHECK_FALSE(c.devices[0].resolved);
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

// ---- experiments given by their M-Lab index (index = N; lib/config/index2ip.hpp) ----

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
