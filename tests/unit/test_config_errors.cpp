// Configuration errors: each malformed value is one error naming its key, its value as written
// and its line; several errors in one file are all reported.
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
    {"unknown cgroup_manager", "[daemon]\ncgroup_manager = \"systemd-cgls\" # <-\n",
     "daemon.cgroup_manager", "expected \"auto\", \"systemd\" or \"cgroupfs\""},
    {"integer cgroup_manager", "[daemon]\ncgroup_manager = 1 # <-\n", "daemon.cgroup_manager",
     "= 1"},
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
