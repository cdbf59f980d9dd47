// Values read from files ("@/path"): the trimmed contents typed as the key wants (a bare number
// for a rate is bit/s), errors naming the key, the config file and line, and the file read, and
// the list of files read (to be watched).
#include <catch2/catch.hpp>

#include "config_files_test_support.hpp"
#include "temp_dir.hpp"

using namespace enforcer;
using namespace enforcer::test;

namespace {

constexpr const char* kRateFile = "/var/local/metadata/iface-max-rate";

// The main file with ndt's bandwidth (line 4) read from kRateFile.
constexpr const char* kNdtFromFile = R"([[experiment]]
name = "ndt"
addresses = ["198.18.0.10"]
bandwidth = "@/var/local/metadata/iface-max-rate"
)";

}  // namespace

TEST_CASE("a bare number read for a rate is bit/s") {
  FakeFiles fs;
  fs.files[kMain] = kNdtFromFile;
  fs.files[kRateFile] = "10000000000\n";
  const ConfigResult r = fs.load();
  INFO(describe_errors(r));
  REQUIRE(r.config);
  CHECK(r.config->experiments[0].allocation.bandwidth_bits == 10'000'000'000ULL);
  CHECK(r.sources.watched_files == std::vector<std::string>{kRateFile});
  const ValueOrigin& o = r.sources.origins.at("experiment \"ndt\".bandwidth");
  CHECK(o.file == kMain);
  CHECK(o.line == 4);
  CHECK(o.value_file == kRateFile);
  CHECK_THAT(format_config(*r.config, &r.sources),
             Catch::Contains("bandwidth = \"10Gbit\"  # from " + std::string(kMain) +
                             ":4 (read from " + kRateFile + ")\n"));
}

TEST_CASE("a value file's contents are trimmed and parsed as the key's type") {
  FakeFiles fs;
  SECTION("a rate with its unit, among blanks") {
    fs.files[kMain] = kNdtFromFile;
    fs.files[kRateFile] = "  \t2.5Gbit \r\n\n";
    CHECK(load_ok(fs).experiments[0].allocation.bandwidth_bits == 2'500'000'000ULL);
  }
  SECTION("numbers for number keys, strings for the others, in any table") {
    fs.files[kMain] = R"([daemon]
max_experiments = "@/etc/max"
control_group = "@/etc/group"

[network]
interfaces = ["eth0", "@/run/uplink"]
link_rate = "@/run/link-rate"

[defaults]
cpu = "@/etc/cpu"
memory = "@/etc/memory"
min_rate = "@/etc/min-rate"
)";
    fs.files["/etc/max"] = "64\n";
    fs.files["/etc/group"] = "mlab\n";
    fs.files["/run/uplink"] = "eth1\n";
    fs.files["/run/link-rate"] = "25000000000";
    fs.files["/etc/cpu"] = "1.5\n";
    fs.files["/etc/memory"] = "2147483648\n";  // a bare number for a size: bytes
    fs.files["/etc/min-rate"] = "2%\n";
    const ConfigResult r = fs.load();
    INFO(describe_errors(r));
    REQUIRE(r.config);
    const Config& c = *r.config;
    CHECK(c.daemon.max_experiments == 64);
    CHECK(c.daemon.control_group == "mlab");
    CHECK(c.network.interfaces == std::vector<std::string>{"eth0", "eth1"});
    CHECK(c.network.link_rate_bits == 25'000'000'000ULL);
    CHECK(c.defaults.cpu_cores == 1.5);
    CHECK(c.defaults.memory_bytes == 2ULL << 30);
    CHECK(c.defaults.min_rate.is_fraction);
    CHECK(c.defaults.min_rate.fraction == Approx(0.02));
    CHECK(r.sources.watched_files.size() == 7);
    CHECK(r.sources.origins.at("network.interfaces").value_file.empty());  // the array's own
  }
  SECTION("\"@@\" is a string that starts with \"@\", no file read") {
    fs.files[kMain] = "[daemon]\ncontrol_group = \"@@admins\"\n";
    const ConfigResult r = fs.load();
    REQUIRE(r.config);
    CHECK(r.config->daemon.control_group == "@admins");
    CHECK(r.sources.watched_files.empty());
  }
}

TEST_CASE("a value file that cannot give a value is an error naming the key, line and file") {
  FakeFiles fs;
  fs.files[kMain] = kNdtFromFile;
  auto check = [&](const std::string& contains) {
    const ConfigError e = load_error(fs);
    CHECK(e.source == kMain);
    CHECK(e.line == 4);
    CHECK(e.key == "experiment \"ndt\".bandwidth");
    CHECK_THAT(e.message, Catch::Contains(kRateFile));
    CHECK_THAT(e.message, Catch::Contains(contains));
  };
  SECTION("missing") {
    check("cannot read /var/local/metadata/iface-max-rate: No such file or directory");
  }
  SECTION("malformed") {
    fs.files[kRateFile] = "fast\n";
    check("(the value read from /var/local/metadata/iface-max-rate)");
    const ConfigError e = load_error(fs);
    CHECK_THAT(e.message, Catch::Contains("\"fast\""));
  }
  SECTION("a negative number") {
    fs.files[kRateFile] = "-5\n";
    check("the value read from");
  }
  SECTION("empty") {
    fs.files[kRateFile] = " \n";
    check("is empty");
  }
  SECTION("more than one line") {
    fs.files[kRateFile] = "1000\n2000\n";
    check("more than one line");
  }
  SECTION("too large") {
    fs.files[kRateFile] = std::string(kMaxValueFileBytes + 1, '1');
    check("larger than 4096 bytes");
  }
  SECTION("the file is still listed, to be watched") {
    const ConfigResult r = fs.load();
    CHECK(r.sources.watched_files == std::vector<std::string>{kRateFile});
  }
}

TEST_CASE("a value file's path must be absolute, and some keys cannot be read from files") {
  FakeFiles fs;
  SECTION("a relative path") {
    fs.files[kMain] = "[defaults]\nbandwidth = \"@iface-max-rate\"\n";
    const ConfigError e = load_error(fs);
    CHECK(e.line == 2);
    CHECK_THAT(e.message, Catch::Contains("must be an absolute path"));
  }
  SECTION("an experiment's name (drop-ins merge by it)") {
    fs.files[kMain] = "[[experiment]]\nname = \"@/etc/name\"\naddresses = [\"198.18.0.1\"]\n";
    fs.files["/etc/name"] = "ndt";
    const ConfigResult r = fs.load();
    REQUIRE_FALSE(r.errors.empty());
    CHECK(r.errors[0].line == 2);
    CHECK_THAT(r.errors[0].message, Catch::Contains("cannot be read from a file"));
  }
}

TEST_CASE("only the values in effect are read") {
  FakeFiles fs;
  fs.files[kMain] = kNdtFromFile;
  fs.files[dropin("10-fixed.toml")] = "[[experiment]]\nname = \"ndt\"\nbandwidth = \"1Gbit\"\n";
  const ConfigResult r = fs.load();
  REQUIRE(r.config);
  CHECK(r.config->experiments[0].allocation.bandwidth_bits == 1'000'000'000);
  CHECK(r.sources.watched_files.empty());
}

TEST_CASE("a value in a drop-in is read from a file, and errors name the drop-in") {
  FakeFiles fs;
  fs.files[kMain] = "[[experiment]]\nname = \"ndt\"\naddresses = [\"198.18.0.10\"]\n";
  fs.files[dropin("10-rate.toml")] =
      "[[experiment]]\nname = \"ndt\"\nbandwidth = \"@/var/local/metadata/iface-max-rate\"\n";
  fs.files[kRateFile] = "150000000\n";
  CHECK(load_ok(fs).experiments[0].allocation.bandwidth_bits == 150'000'000);
  fs.files[kRateFile] = "0\n";
  const ConfigResult r = fs.load();
  REQUIRE_FALSE(r.errors.empty());  // also: [defaults]' min_rate of 1% of it comes to 0
  const ConfigError& e = r.errors.front();
  CHECK(e.source == dropin("10-rate.toml"));
  CHECK(e.line == 3);
  CHECK_THAT(e.message, Catch::Contains("must be at least 8bit"));
  CHECK_THAT(e.message, Catch::Contains(kRateFile));
}

TEST_CASE("value files read from the real file system") {
  TempDir dir;
  const std::string main = (dir.path / "enforcer.toml").string();
  const std::string rate = (dir.path / "iface-max-rate").string();
  put(main, "[defaults]\nbandwidth = \"@" + rate + "\"\n");
  put(rate, "300000000\n");
  ConfigResult r = load_config(main);
  INFO(describe_errors(r));
  REQUIRE(r.config);
  CHECK(r.config->defaults.bandwidth_bits == 300'000'000);
  put(rate, std::string(5000, '1'));
  r = load_config(main);
  REQUIRE(r.errors.size() == 1);
  CHECK_THAT(r.errors[0].message, Catch::Contains("larger than 4096 bytes"));
  std::filesystem::remove(rate);
  r = load_config(main);
  REQUIRE(r.errors.size() == 1);
  CHECK_THAT(r.errors[0].to_string(), Catch::StartsWith(main + ":2: "));
  CHECK_THAT(r.errors[0].message, Catch::Contains("cannot read " + rate));
}
