// The experiments' status files (lib/control/status_files.hpp): what a file holds, written only
// when the status changed, nothing half-written left, the files of experiments gone removed, and
// an error when the directory cannot be written.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "base/expected.hpp"
#include "control/status_files.hpp"
#include "temp_dir.hpp"

using namespace enforcer;
using namespace enforcer::test;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

json read_json(const std::filesystem::path& path) {
  return json::parse(read_all(path));
}

ino_t inode(const std::filesystem::path& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_ino;
}

struct Status {
  std::string name;
  bool throttled;
};

// One pass of the daemon's: every experiment's EXP object (here just its name and one field).
Expected<void> pass(StatusFiles& files, const std::vector<Status>& experiments,
                    std::int64_t tick_ns, std::chrono::system_clock::time_point now) {
  files.begin(tick_ns, now);
  for (const Status& x : experiments) {
    files.put(x.name, {{"name", x.name}, {"egress", {{"throttled", x.throttled}}}});
  }
  return files.end();
}

const auto kAt = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));

}  // namespace

TEST_CASE("status files: the EXP object with format, time and tick, rewritten only on change",
          "[status]") {
  TempDir tmp;
  const auto dir = tmp.path / "experiments";  // made on the first write
  StatusFiles files(dir.string());
  REQUIRE(pass(files, {{"ndt", false}, {"wehe", true}}, 1'000'000'000, kAt).ok());
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"ndt.json", "wehe.json"});  // no temporary left
  const json ndt = read_json(dir / "ndt.json");
  CHECK(ndt["format"] == kStatusFileFormat);
  CHECK(ndt["name"] == "ndt");
  CHECK(ndt["egress"]["throttled"] == false);
  CHECK(ndt["updated_unix_ns"] == 1'800'000'000'000'000'000);
  CHECK(ndt["tick_ns"] == 1'000'000'000);
  // Readable by the pods, which mount the directory read-only as another user.
  struct stat st {};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0755);
  REQUIRE(::stat((dir / "ndt.json").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);

  SECTION("an unchanged status is not written again; a changed one replaces the file") {
    const ino_t before = inode(dir / "ndt.json");
    REQUIRE(
        pass(files, {{"ndt", false}, {"wehe", false}}, 1'000'000'000, kAt + std::chrono::seconds(1))
            .ok());
    CHECK(inode(dir / "ndt.json") == before);
    CHECK(read_json(dir / "ndt.json")["updated_unix_ns"] == 1'800'000'000'000'000'000);
    CHECK(read_json(dir / "wehe.json")["egress"]["throttled"] == false);
  }
  SECTION("an unchanged status is written again once kStatusFileRefresh has passed") {
    const auto later = kAt + kStatusFileRefresh - std::chrono::milliseconds(1);
    REQUIRE(pass(files, {{"ndt", false}, {"wehe", true}}, 1'000'000'000, later).ok());
    CHECK(read_json(dir / "ndt.json")["updated_unix_ns"] == 1'800'000'000'000'000'000);
    const auto due = kAt + kStatusFileRefresh;
    REQUIRE(pass(files, {{"ndt", false}, {"wehe", true}}, 1'000'000'000, due).ok());
    const std::int64_t due_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(due.time_since_epoch()).count();
    CHECK(read_json(dir / "ndt.json")["updated_unix_ns"] == due_ns);
    CHECK(read_json(dir / "wehe.json")["updated_unix_ns"] == due_ns);
  }
  SECTION("an experiment gone loses its file; other files stay") {
    put(dir / "README", "not ours\n");
    REQUIRE(pass(files, {{"ndt", false}}, 1'000'000'000, kAt).ok());
    CHECK_FALSE(std::filesystem::exists(dir / "wehe.json"));
    CHECK(std::filesystem::exists(dir / "README"));
  }
}

TEST_CASE("status files: a new daemon removes a previous one's files of experiments gone",
          "[status]") {
  TempDir tmp;
  put(tmp.path / "old.json", "{}\n");
  put(tmp.path / "ndt.json", "{}\n");
  StatusFiles files(tmp.path.string());
  REQUIRE(pass(files, {{"ndt", true}}, 100'000'000, kAt).ok());
  CHECK(tmp.names() == std::vector<std::string>{"ndt.json"});
  CHECK(read_json(tmp.path / "ndt.json")["egress"]["throttled"] == true);
}

TEST_CASE("status files: a directory that cannot be made is an error naming it", "[status]") {
  TempDir tmp;
  put(tmp.path / "file", "x\n");
  StatusFiles files((tmp.path / "file" / "experiments").string());
  const auto r = pass(files, {{"ndt", false}}, 1'000'000'000, kAt);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Contains("status_dir"));
  CHECK_THAT(r.error().message, Contains("file/experiments"));
}
