// The drop-in directory: files merged after the main file in lexical order, experiments merged by
// name, `enabled = false`, host matching with [match], errors naming the file and line, and
// --check-config's record of where each value came from.
#include <catch2/catch.hpp>

#include "config_files_test_support.hpp"
#include "temp_dir.hpp"

using namespace enforcer;
using namespace enforcer::test;

namespace {

constexpr const char* kFleetMain = R"([defaults]
bandwidth = "100Mbit"

[[experiment]]
name = "ndt"
addresses = ["198.18.0.10"]
bandwidth = "2.5Gbit"

[[experiment]]
name = "wehe"
addresses = ["198.18.0.20"]
)";

const ExperimentConfig* find(const Config& c, const std::string& name) {
  for (const auto& x : c.experiments) {
    if (x.name == name) return &x;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("drop-ins apply after the main file in lexical order, other files are ignored") {
  FakeFiles fs;
  fs.files[kMain] = kFleetMain;
  fs.files[dropin("10-a.toml")] = "[defaults]\nbandwidth = \"200Mbit\"\n";
  fs.files[dropin("20-b.toml")] = "[defaults]\nbandwidth = \"300Mbit\"\nwindow = \"10m\"\n";
  // "5-c" sorts after "20-b": byte order, not numbers.
  fs.files[dropin("5-c.toml")] = "[defaults]\nbandwidth = \"400Mbit\"\n";
  fs.files[dropin("README")] = "not toml";
  fs.files[dropin("30-d.toml.bak")] = "not toml";
  fs.files[dropin(".40-hidden.toml")] = "not toml";
  fs.files[dropin("sub/50-e.toml")] = "not toml";
  const ConfigResult r = fs.load();
  INFO(describe_errors(r));
  REQUIRE(r.config);
  CHECK(r.config->defaults.bandwidth_bits == 400'000'000);
  CHECK(r.config->defaults.window == std::chrono::minutes(10));  // 20-b's, not replaced later
  CHECK(r.sources.files == std::vector<std::string>{kMain, dropin("10-a.toml"), dropin("20-b.toml"),
                                                    dropin("5-c.toml")});
  CHECK(r.sources.dropin_dir == kDropins);
}

TEST_CASE("a drop-in changes only the keys it gives of an experiment it names") {
  FakeFiles fs;
  fs.files[kMain] = kFleetMain;
  fs.files[dropin("10-ndt.toml")] =
      "[[experiment]]\nname = \"ndt\"\npinned_rate = \"1Gbit\"\ncpu = 2\n";
  const Config c = load_ok(fs);
  REQUIRE(c.experiments.size() == 2);
  const ExperimentConfig& ndt = c.experiments[0];
  CHECK(ndt.name == "ndt");
  CHECK(ndt.id == 1);  // keeps its place
  CHECK(ndt.pinned_rate_bits == 1'000'000'000);
  CHECK(ndt.allocation.cpu_cores == 2.0);
  CHECK(ndt.allocation.bandwidth_bits == 2'500'000'000ULL);  // the main file's
  CHECK(ndt.addresses.size() == 1);
  CHECK(ndt.file == kMain);
}

TEST_CASE("a drop-in marks an experiment of the main file optional by naming it") {
  FakeFiles fs;
  fs.files[kMain] = kFleetMain;
  fs.files[dropin("10-site.toml")] = "[[experiment]]\nname = \"wehe\"\noptional = true\n";
  const Config c = load_ok(fs);
  REQUIRE(find(c, "wehe"));
  CHECK(find(c, "wehe")->optional);
  CHECK_FALSE(find(c, "ndt")->optional);
}

TEST_CASE("a drop-in adds an experiment with a new name, and its keys may come from [defaults]") {
  FakeFiles fs;
  fs.files[kMain] = kFleetMain;
  fs.files[dropin("10-msak.toml")] =
      "[defaults]\nmemory = \"2GiB\"\n\n[[experiment]]\nname = \"msak\"\n"
      "addresses = [\"198.18.0.30\"]\n";
  const Config c = load_ok(fs);
  REQUIRE(c.experiments.size() == 3);
  CHECK(c.experiments[2].name == "msak");
  CHECK(c.experiments[2].id == 3);
  CHECK(c.experiments[2].file == dropin("10-msak.toml"));
  CHECK(c.experiments[2].line == 4);
  CHECK(c.experiments[2].allocation.memory_bytes == 2ULL << 30);
}

TEST_CASE("a drop-in that gives index replaces the addresses of the file before it") {
  FakeFiles fs;
  fs.files[kMain] = kFleetMain;
  fs.files[dropin("10-ndt.toml")] = "[[experiment]]\nname = \"ndt\"\nindex = 2\n";
  const Config c = load_ok(fs);
  CHECK(c.experiments[0].index == 2);
  REQUIRE(c.experiments[0].addresses.size() == 1);
  CHECK(to_string(c.experiments[0].addresses[0]) == "4.14.159.114");
}

TEST_CASE("enabled = false leaves an experiment out, a later file may enable it again") {
  FakeFiles fs;
  fs.files[kMain] = kFleetMain;
  SECTION("disabled by a drop-in") {
    fs.files[dropin("10-off.toml")] = "[[experiment]]\nname = \"wehe\"\nenabled = false\n";
    const ConfigResult r = fs.load();
    REQUIRE(r.config);
    REQUIRE(r.config->experiments.size() == 1);
    CHECK(r.config->experiments[0].name == "ndt");
    REQUIRE(r.sources.disabled.count("experiment \"wehe\"") == 1);
    CHECK(r.sources.disabled.at("experiment \"wehe\"").file == dropin("10-off.toml"));
    CHECK(r.sources.disabled.at("experiment \"wehe\"").line == 3);
    CHECK(format_config(*r.config, &r.sources)
              .find("# disabled on this host: experiment \"wehe\" (enabled = false at " +
                    dropin("10-off.toml") + ":3)") != std::string::npos);
  }
  SECTION("disabled in the main file, enabled on this host") {
    fs.files[kMain] = std::string(kFleetMain) +
                      "\n[[experiment]]\nname = \"revtr\"\naddresses = [\"198.18.0.40\"]\n"
                      "enabled = false\n";
    CHECK(load_ok(fs).experiments.size() == 2);
    fs.files[dropin("10-on.toml")] = "[[experiment]]\nname = \"revtr\"\nenabled = true\n";
    const Config c = load_ok(fs);
    REQUIRE(c.experiments.size() == 3);
    CHECK(c.experiments[2].name == "revtr");
  }
  SECTION("a disabled experiment's values are not checked (they may not fit this host)") {
    fs.files[dropin("10-off.toml")] =
        "[[experiment]]\nname = \"wehe\"\nenabled = false\nbandwidth = \"@/missing\"\n";
    CHECK(load_ok(fs).experiments.size() == 1);
  }
  SECTION("enabled must be true or false") {
    fs.files[dropin("10-off.toml")] = "[[experiment]]\nname = \"wehe\"\nenabled = \"no\"\n";
    const ConfigError e = load_error(fs);
    CHECK(e.source == dropin("10-off.toml"));
    CHECK(e.line == 3);
    CHECK(e.key == "experiment \"wehe\".enabled");
  }
}

TEST_CASE("errors in a drop-in name the drop-in's file and line") {
  FakeFiles fs;
  fs.files[kMain] = kFleetMain;
  SECTION("a bad value") {
    fs.files[dropin("10-a.toml")] = "# site\n[defaults]\nbandwidth = \"100Mbps\"\n";
    const ConfigError e = load_error(fs);
    CHECK(e.source == dropin("10-a.toml"));
    CHECK(e.line == 3);
    CHECK(e.key == "defaults.bandwidth");
    CHECK_THAT(e.to_string(), Catch::StartsWith(dropin("10-a.toml") + ":3: defaults.bandwidth"));
  }
  SECTION("a bad value in an experiment a drop-in changes") {
    fs.files[dropin("10-a.toml")] = "[[experiment]]\nname = \"ndt\"\ncpu = -1\n";
    const ConfigError e = load_error(fs);
    CHECK(e.source == dropin("10-a.toml"));
    CHECK(e.line == 3);
    CHECK(e.key == "experiment \"ndt\".cpu");
  }
  SECTION("a syntax error") {
    fs.files[dropin("10-a.toml")] = "[defaults]\nbandwidth = \n";
    const ConfigError e = load_error(fs);
    CHECK(e.source == dropin("10-a.toml"));
    CHECK(e.line == 2);
    CHECK_THAT(e.message, Catch::Contains("TOML syntax error"));
  }
  SECTION("an unknown key") {
    fs.files[dropin("10-a.toml")] = "[network]\ncolour = \"blue\"\n";
    const ConfigError e = load_error(fs);
    CHECK(e.source == dropin("10-a.toml"));
    CHECK(e.line == 2);
  }
  SECTION("an experiment named twice in one drop-in") {
    fs.files[dropin("10-a.toml")] =
        "[[experiment]]\nname = \"ndt\"\ncpu = 2\n\n[[experiment]]\nname = \"ndt\"\ncpu = 3\n";
    const ConfigError e = load_error(fs);
    CHECK(e.source == dropin("10-a.toml"));
    CHECK(e.line == 5);
    CHECK_THAT(e.message, Catch::Contains("given twice in this file (first at line 1)"));
  }
  SECTION("an address overlapping another file's experiment") {
    fs.files[dropin("10-a.toml")] =
        "[[experiment]]\nname = \"msak\"\naddresses = [\"198.18.0.10\"]\n";
    const ConfigError e = load_error(fs);
    CHECK(e.source == dropin("10-a.toml"));
    CHECK(e.line == 3);
  }
  SECTION("experiment not written as tables") {
    fs.files[dropin("10-a.toml")] = "experiment = 3\n";
    const ConfigError e = load_error(fs);
    CHECK(e.source == dropin("10-a.toml"));
    CHECK(e.line == 1);
  }
  SECTION("the main file's errors still name it") {
    fs.files[kMain] = "[daemon]\ntick = \"0s\"\n";
    const ConfigError e = load_error(fs);
    CHECK(e.source == kMain);
    CHECK(e.line == 2);
  }
}

TEST_CASE("the drop-in directory: beside the main file by default, or as given") {
  FakeFiles fs;
  fs.files[kMain] = kFleetMain;
  SECTION("no enforcer.d beside the main file is no error") {
    const ConfigResult r = fs.load();
    REQUIRE(r.config);
    CHECK(r.sources.files == std::vector<std::string>{kMain});
  }
  SECTION("a directory given must exist") {
    const ConfigError e = load_error(fs, "/run/enforcer/fleet.d");
    CHECK(e.source == "/run/enforcer/fleet.d");
    CHECK_THAT(e.message, Catch::Contains("does not exist"));
  }
  SECTION("a directory given replaces enforcer.d") {
    fs.files[dropin("10-a.toml")] = "[defaults]\nbandwidth = \"200Mbit\"\n";
    fs.files["/run/enforcer/fleet.d/10-a.toml"] = "[defaults]\nbandwidth = \"300Mbit\"\n";
    const ConfigResult r = fs.load("/run/enforcer/fleet.d");
    REQUIRE(r.config);
    CHECK(r.config->defaults.bandwidth_bits == 300'000'000);
    CHECK(r.sources.dropin_dir == "/run/enforcer/fleet.d");
  }
  SECTION("a main file without a directory part looks in ./enforcer.d") {
    CHECK(dropin_dir_of(ConfigPaths{"enforcer.toml", ""}) == "enforcer.d");
    CHECK(dropin_dir_of(ConfigPaths{"/a/b.toml", ""}) == "/a/enforcer.d");
  }
}

TEST_CASE("[match] applies a drop-in only where the host name matches one of its globs") {
  FakeFiles fs;
  fs.files[kMain] = kFleetMain;
  fs.files[dropin("20-lga03.toml")] =
      "# wehe is throttled at lga03\n[match]\nhostnames = [\"mlab[1-4]-lga03.*\", "
      "\"mlab1-lga04.*\"]\n\n[[experiment]]\nname = \"wehe\"\npinned_rate = \"10Mbit\"\n";
  SECTION("the kernel's host name matches") {
    const ConfigResult r = fs.load();
    REQUIRE(r.config);
    CHECK(find(*r.config, "wehe")->pinned_rate_bits == 10'000'000);
    CHECK(fs.hostname_calls == 1);
    CHECK(r.sources.skipped.empty());
  }
  SECTION("case does not matter in host names") {
    fs.hostname = "MLAB3-LGA03.example.org";
    CHECK(find(load_ok(fs), "wehe")->pinned_rate_bits == 10'000'000);
  }
  SECTION("another host skips it, and says why") {
    fs.hostname = "mlab5-lga03.mlab-oti.measurement-lab.org";
    const ConfigResult r = fs.load();
    REQUIRE(r.config);
    CHECK(find(*r.config, "wehe")->pinned_rate_bits == 0);
    REQUIRE(r.sources.skipped.size() == 1);
    CHECK(r.sources.skipped[0].file == dropin("20-lga03.toml"));
    CHECK(r.sources.skipped[0].why ==
          "host name \"mlab5-lga03.mlab-oti.measurement-lab.org\" matches none of "
          "[\"mlab[1-4]-lga03.*\", \"mlab1-lga04.*\"] ([match] at line 2)");
    CHECK(r.sources.files == std::vector<std::string>{kMain});
    const std::string text = format_config(*r.config, &r.sources);
    CHECK_THAT(text, Catch::Contains("# skipped: " + dropin("20-lga03.toml") + ": host name"));
  }
  SECTION("daemon.hostname in the main file is used instead of the kernel's") {
    fs.files[kMain] = "[daemon]\nhostname = \"mlab9-lga03.example\"\n" + std::string(kFleetMain);
    const ConfigResult r = fs.load();
    REQUIRE(r.config);
    CHECK(find(*r.config, "wehe")->pinned_rate_bits == 0);
    CHECK(fs.hostname_calls == 0);
    CHECK(r.config->daemon.hostname == "mlab9-lga03.example");
    fs.files[kMain] = "[daemon]\nhostname = \"mlab1-lga03.example\"\n" + std::string(kFleetMain);
    CHECK(find(load_ok(fs), "wehe")->pinned_rate_bits == 10'000'000);
  }
  SECTION("without [match] the host name is never asked") {
    fs.files.erase(dropin("20-lga03.toml"));
    fs.files[dropin("10-a.toml")] = "[defaults]\ncpu = 2\n";
    load_ok(fs);
    CHECK(fs.hostname_calls == 0);
  }
}

TEST_CASE("a misplaced or malformed [match] is an error naming the file and line") {
  FakeFiles fs;
  fs.files[kMain] = kFleetMain;
  SECTION("in the main file") {
    fs.files[kMain] = std::string("[match]\nhostnames = [\"*\"]\n") + kFleetMain;
    const ConfigError e = load_error(fs);
    CHECK(e.source == kMain);
    CHECK(e.line == 1);
    CHECK_THAT(e.message, Catch::Contains("for drop-ins only"));
  }
  SECTION("not the first table of a drop-in") {
    fs.files[dropin("10-a.toml")] =
        "[defaults]\ncpu = 2\n\n[match]\nhostnames = [\"mlab2-lga03.*\"]\n";
    const ConfigError e = load_error(fs);
    CHECK(e.source == dropin("10-a.toml"));
    CHECK(e.line == 4);
    CHECK_THAT(e.message, Catch::Contains("must be the first table"));
  }
  SECTION("after an [[experiment]]") {
    fs.files[dropin("10-a.toml")] =
        "[[experiment]]\nname = \"ndt\"\ncpu = 2\n[match]\nhostnames = [\"*\"]\n";
    const ConfigError e = load_error(fs);
    CHECK(e.line == 4);
  }
  SECTION("a glob never closed") {
    fs.files[dropin("10-a.toml")] = "[match]\nhostnames = [\"mlab[1-4-lga03.*\"]\n";
    const ConfigError e = load_error(fs);
    CHECK(e.source == dropin("10-a.toml"));
    CHECK(e.line == 2);
    CHECK_THAT(e.message, Catch::Contains("never closed"));
  }
  SECTION("no hostnames") {
    fs.files[dropin("10-a.toml")] = "[match]\nhostname = \"mlab1\"\n";
    const ConfigResult r = fs.load();
    CHECK_FALSE(r.config);
    REQUIRE(r.errors.size() == 2);  // the unknown key, and no hostnames
    CHECK(r.errors[0].source == dropin("10-a.toml"));
  }
  SECTION("an empty list, or not strings") {
    fs.files[dropin("10-a.toml")] = "[match]\nhostnames = []\n";
    CHECK(load_error(fs).line == 2);
    fs.files[dropin("10-a.toml")] = "[match]\nhostnames = [3]\n";
    CHECK(load_error(fs).line == 2);
  }
  SECTION("daemon.hostname in a drop-in") {
    fs.files[dropin("10-a.toml")] = "[daemon]\nhostname = \"x\"\n";
    const ConfigError e = load_error(fs);
    CHECK(e.source == dropin("10-a.toml"));
    CHECK(e.line == 2);
    CHECK_THAT(e.message, Catch::Contains("main file only"));
  }
  SECTION("the host name cannot be told") {
    fs.files[dropin("10-a.toml")] = "[match]\nhostnames = [\"*\"]\n";
    ConfigFileAccess access = fs.access();
    access.hostname = []() -> Expected<std::string> { return Error{"no name"}; };
    const ConfigResult r = load_config(ConfigPaths{kMain, ""}, access);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].line == 1);
    CHECK_THAT(r.errors[0].message, Catch::Contains("cannot tell this host's name"));
  }
}

TEST_CASE("the effective configuration says where each value was written") {
  FakeFiles fs;
  fs.files[kMain] = kFleetMain;
  fs.files[dropin("10-site.toml")] =
      "[defaults]\nwindow = \"10m\"\n\n[[experiment]]\nname = \"ndt\"\npinned_rate = \"1Gbit\"\n";
  const ConfigResult r = fs.load();
  REQUIRE(r.config);
  const auto& o = r.sources.origins;
  CHECK(o.at("defaults.window").file == dropin("10-site.toml"));
  CHECK(o.at("defaults.window").line == 2);
  CHECK(o.at("defaults.bandwidth").file == kMain);
  CHECK(o.at("defaults.bandwidth").line == 2);
  CHECK(o.at("experiment \"ndt\".pinned_rate").file == dropin("10-site.toml"));
  CHECK(o.at("experiment \"ndt\".pinned_rate").line == 6);
  CHECK(o.at("experiment \"ndt\".bandwidth").line == 7);
  CHECK(o.at("experiment \"ndt\"").file == kMain);

  const std::string text = format_config(*r.config, &r.sources);
  CHECK_THAT(text, Catch::Contains("# read: " + dropin("10-site.toml") + "\n"));
  CHECK_THAT(text, Catch::Contains("window = \"10m\"  # from " + dropin("10-site.toml") + ":2\n"));
  CHECK_THAT(text,
             Catch::Contains("pinned_rate = \"1Gbit\"  # from " + dropin("10-site.toml") + ":6\n"));
  CHECK_THAT(text,
             Catch::Contains("bandwidth = \"2.5Gbit\"  # from " + std::string(kMain) + ":7\n"));
  // wehe's window is [defaults]', which a drop-in set.
  CHECK_THAT(text, Catch::Contains("window = \"10m\"  # from [defaults], " +
                                   dropin("10-site.toml") + ":2\n"));
  CHECK_THAT(text, Catch::Contains("tick = \"1s\"  # default\n"));
  // Still a configuration the daemon reads, to the same effect.
  const ConfigResult again = parse_config(text, "printed");
  REQUIRE(again.config);
  CHECK(format_config(*again.config) == format_config(*r.config));
}

TEST_CASE("drop-ins read from a real directory") {
  TempDir dir;
  const std::string main = (dir.path / "enforcer.toml").string();
  put(main, std::string("[daemon]\nhostname = \"mlab2-lga03.example\"\n\n") + kFleetMain);
  std::filesystem::create_directory(dir.path / "enforcer.d");
  put(dir.path / "enforcer.d" / "10-a.toml", "[defaults]\ncpu = 2\n");
  put(dir.path / "enforcer.d" / "20-b.toml",
      "[match]\nhostnames = [\"mlab1-*\"]\n\n[defaults]\ncpu = 3\n");
  const ConfigResult r = load_config(main);
  INFO(describe_errors(r));
  REQUIRE(r.config);
  CHECK(r.config->defaults.cpu_cores == 2.0);
  CHECK(r.sources.files.size() == 2);
  CHECK(r.sources.skipped.size() == 1);
}

TEST_CASE("a claim of another file is named with its file") {
  FakeFiles fs;
  fs.files[kMain] = std::string(kFleetMain) + "cgroup = \"system.slice/wehe.service\"\n";
  fs.files[dropin("10-a.toml")] =
      "[[experiment]]\nname = \"msak\"\naddresses = [\"198.18.0.30\"]\n"
      "cgroup = \"system.slice/wehe.service\"\n";
  const ConfigError e = load_error(fs);
  CHECK(e.source == dropin("10-a.toml"));
  CHECK(e.line == 4);
  CHECK_THAT(e.message, Catch::Contains("also the cgroup of experiment \"wehe\" (" +
                                        std::string(kMain) + ":12)"));
}

TEST_CASE("enabled = false in one text read by parse_config") {
  const ConfigResult r = parse_config(
      "[[experiment]]\nname = \"a\"\naddresses = [\"198.18.0.1\"]\nenabled = false\n\n"
      "[[experiment]]\nname = \"b\"\naddresses = [\"198.18.0.2\"]\nenabled = true\n",
      "one.toml");
  REQUIRE(r.config);
  REQUIRE(r.config->experiments.size() == 1);
  CHECK(r.config->experiments[0].name == "b");
  CHECK(r.sources.disabled.count("experiment \"a\"") == 1);
}

TEST_CASE("a ConfigMap mounted as the drop-in directory: its symlinks are read, its ..data not") {
  TempDir dir;
  const std::string main = (dir.path / "enforcer.toml").string();
  put(main, kFleetMain);
  // What the kubelet writes: a timestamped directory, ..data pointing at it, and a symlink per
  // key through ..data.
  const auto mount = dir.path / "fleet.d";
  std::filesystem::create_directories(mount / "..2026_12_06_20_00_00.1");
  put(mount / "..2026_12_06_20_00_00.1" / "10-site.toml", "[defaults]\ncpu = 2\n");
  std::filesystem::create_directory_symlink("..2026_12_06_20_00_00.1", mount / "..data");
  std::filesystem::create_symlink("..data/10-site.toml", mount / "10-site.toml");
  ConfigFileAccess access = system_file_access();
  const ConfigResult r = load_config(ConfigPaths{main, mount.string()}, access);
  INFO(describe_errors(r));
  REQUIRE(r.config);
  CHECK(r.config->defaults.cpu_cores == 2.0);
  CHECK(r.sources.files == std::vector<std::string>{main, (mount / "10-site.toml").string()});
}
