// Watching the configuration's inputs: which events count (pure), and real inotify in a temporary
// folder (an edit in place, a rename over, a drop-in folder made later, a ConfigMap's ..data swap).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config_watch.hpp"
#include "temp_dir.hpp"

using namespace enforcer;
using enforcer::test::TempDir;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

}  // namespace

TEST_CASE("the watch set: the inputs' names in their folders, drop-in *.toml, Kubernetes' ..data") {
  const ConfigWatchSet set(
      ConfigInputs{{"/etc/enforcer/enforcer.toml", "/var/local/metadata/iface-max-rate"},
                   {"/etc/enforcer/enforcer.d/"}});
  CHECK(set.directories() == std::vector<std::string>{"/etc/enforcer", "/etc/enforcer/enforcer.d",
                                                      "/var/local/metadata"});
  CHECK(set.concerns("/etc/enforcer", "enforcer.toml"));
  CHECK(set.concerns("/etc/enforcer", "enforcer.d"));  // the folder made or removed
  CHECK_FALSE(set.concerns("/etc/enforcer", "enforcer.toml~"));
  CHECK_FALSE(set.concerns("/etc/enforcer", "other.toml"));  // not a drop-in folder
  CHECK(set.concerns("/etc/enforcer", "..data"));
  CHECK(set.concerns("/etc/enforcer/enforcer.d", "10-site.toml"));
  CHECK(set.concerns("/etc/enforcer/enforcer.d", "..data"));
  CHECK_FALSE(set.concerns("/etc/enforcer/enforcer.d", "README"));
  CHECK_FALSE(set.concerns("/etc/enforcer/enforcer.d", ".10-site.toml.swp"));
  CHECK(set.concerns("/var/local/metadata", "iface-max-rate"));
  CHECK_FALSE(set.concerns("/var/local/metadata", "machine-type"));
  CHECK_FALSE(set.concerns("/tmp", "..data"));  // not a watched folder
}

TEST_CASE("the watcher reports changes to the inputs and nothing else") {
  TempDir tmp;
  const fs::path main = tmp.path / "enforcer.toml";
  const fs::path dropins = tmp.path / "enforcer.d";
  write(main, "[daemon]\n");
  auto w = ConfigWatcher::create(ConfigInputs{{main.string()}, {dropins.string()}});
  REQUIRE(w.ok());
  CHECK_FALSE(w->drain());

  SECTION("an edit in place") {
    write(main, "[daemon]\ntick = \"1s\"\n");
    CHECK(w->drain());
  }
  SECTION("another file in the same folder is not a change") {
    write(tmp.path / "notes.txt", "x");
    CHECK_FALSE(w->drain());
  }
  SECTION("a new file renamed over the main file") {
    write(tmp.path / ".enforcer.toml.new", "[daemon]\n");
    CHECK_FALSE(w->drain());
    fs::rename(tmp.path / ".enforcer.toml.new", main);
    CHECK(w->drain());
  }
  SECTION("the drop-in folder made after the watcher, then a drop-in in it (a new watcher)") {
    fs::create_directory(dropins);
    CHECK(w->drain());
    auto w2 = ConfigWatcher::create(ConfigInputs{{main.string()}, {dropins.string()}});
    REQUIRE(w2.ok());
    write(dropins / "10-site.toml", "[defaults]\n");
    CHECK(w2->drain());
    write(dropins / "README", "x");
    CHECK_FALSE(w2->drain());
  }
}

TEST_CASE("a ConfigMap's update (the ..data symlink renamed over) is a change") {
  // What the kubelet's atomic writer does: files are symlinks through ..data into a timestamped
  // folder; an update writes a new folder, points ..data_tmp at it and renames it over ..data.
  TempDir tmp;
  const fs::path mount = tmp.path / "config";
  fs::create_directories(mount / "..2026_12_01");
  write(mount / "..2026_12_01" / "enforcer.toml", "[daemon]\n");
  fs::create_directory_symlink("..2026_12_01", mount / "..data");
  fs::create_symlink("..data/enforcer.toml", mount / "enforcer.toml");
  auto w = ConfigWatcher::create(ConfigInputs{{(mount / "enforcer.toml").string()}, {}});
  REQUIRE(w.ok());
  fs::create_directories(mount / "..2026_12_02");
  write(mount / "..2026_12_02" / "enforcer.toml", "[daemon]\ntick = \"1s\"\n");
  fs::create_directory_symlink("..2026_12_02", mount / "..data_tmp");
  fs::rename(mount / "..data_tmp", mount / "..data");
  CHECK(w->drain());
}

TEST_CASE("a watched folder removed counts as a change") {
  TempDir tmp;
  const fs::path dir = tmp.path / "metadata";
  fs::create_directory(dir);
  write(dir / "iface-max-rate", "10000000000\n");
  auto w = ConfigWatcher::create(ConfigInputs{{(dir / "iface-max-rate").string()}, {}});
  REQUIRE(w.ok());
  fs::remove_all(dir);
  CHECK(w->drain());
}
