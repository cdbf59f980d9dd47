// The overrides file: write_file_atomic (replace, fail cleanly, a failure after the rename) and
// load_overrides of a file that may be missing, torn or corrupt.
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "control/overrides.hpp"
#include "overrides_test_support.hpp"
#include "temp_dir.hpp"

using namespace enforcer;
using namespace enforcer::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

TEST_CASE("write_file_atomic replaces the file and leaves nothing behind", "[overrides]") {
  TempDir tmp;
  const fs::path path = tmp.path / "overrides.json";
  REQUIRE(write_file_atomic(path.string(), "first\n").ok());
  CHECK(get(path) == "first\n");
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  const std::string big(1 << 20, 'x');
  REQUIRE(write_file_atomic(path.string(), big).ok());
  CHECK(get(path) == big);
  REQUIRE(write_file_atomic(path.string(), "").ok());
  CHECK(get(path).empty());
  CHECK(tmp.names() == std::vector<std::string>{"overrides.json"});

  // A directory that does not exist: a clean error naming the path, nothing created.
  const fs::path nowhere = tmp.path / "no-such-dir" / "overrides.json";
  auto r = write_file_atomic(nowhere.string(), "x");
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Contains(nowhere.string()));
  CHECK_THAT(r.error().message, Contains("No such file or directory"));
  CHECK(tmp.names() == std::vector<std::string>{"overrides.json"});

  // A path that is a directory: the rename fails, the temporary file is removed.
  fs::create_directory(tmp.path / "sub");
  put(tmp.path / "sub" / "keep", "k");
  r = write_file_atomic((tmp.path / "sub").string(), "x");
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Contains("rename"));
  CHECK(tmp.names() == (std::vector<std::string>{"overrides.json", "sub"}));
  CHECK(get(tmp.path / "sub" / "keep") == "k");
}

TEST_CASE("write_file_atomic fails cleanly when the data does not fit", "[overrides]") {
  // A file size limit makes write(2) stop short and then fail (EFBIG), as a full disk does
  // (ENOSPC): the old file must stay as it was and no temporary file remain. In a child process,
  // so that the limit touches nothing else.
  TempDir tmp;
  const fs::path path = tmp.path / "overrides.json";
  REQUIRE(write_file_atomic(path.string(), "old\n").ok());
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const struct rlimit limit { 4096, 4096 };
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(10);
    const auto r = write_file_atomic(path.string(), std::string(1 << 20, 'x'));
    if (r.ok()) ::_exit(11);
    if (r.error().message.find(path.string()) == std::string::npos) ::_exit(12);
    if (r.error().message.find("File too large") == std::string::npos) ::_exit(13);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(get(path) == "old\n");
  CHECK(tmp.names() == std::vector<std::string>{"overrides.json"});
}

TEST_CASE("write_file_atomic: a failure after the rename is a change made, with a warning",
          "[overrides]") {
  // A directory its writer may write and search but not read: the rename succeeds, opening the
  // directory for its fsync fails (EACCES). Root reads any directory, so the child drops to
  // nobody first.
  TempDir tmp;
  REQUIRE(::chmod(tmp.path.c_str(), 0711) == 0);
  const fs::path dir = tmp.path / "state";
  REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
  const bool root = ::geteuid() == 0;
  if (root) REQUIRE(::chown(dir.c_str(), 65534, 65534) == 0);
  const fs::path path = dir / "overrides.json";
  put(path, "old\n");
  if (root) REQUIRE(::chown(path.c_str(), 65534, 65534) == 0);
  REQUIRE(::chmod(dir.c_str(), 0300) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (root && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(10);
    const auto r = write_file_atomic(path.string(), "new\n");
    if (!r.ok()) ::_exit(11);
    if (!r->not_durable) ::_exit(12);
    if (r->not_durable->find("open directory") == std::string::npos) ::_exit(13);
    if (r->not_durable->find("Permission denied") == std::string::npos) ::_exit(14);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(::chmod(dir.c_str(), 0700) == 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(get(path) == "new\n");
  auto again = write_file_atomic(path.string(), "newer\n");  // a readable directory: durable
  REQUIRE(again.ok());
  CHECK_FALSE(again->not_durable);
}

TEST_CASE("load_overrides: a missing file is an empty set without a warning", "[overrides]") {
  TempDir tmp;
  const auto loaded = load_overrides((tmp.path / "overrides.json").string(), at(1'795'000'000));
  CHECK(loaded.overrides.empty());
  CHECK_FALSE(loaded.warning);
  CHECK(tmp.names().empty());
}

TEST_CASE("load_overrides returns the live overrides of a good file", "[overrides]") {
  TempDir tmp;
  const fs::path path = tmp.path / "overrides.json";
  const auto now = at(1'795'000'000);
  const std::vector<Override> all = {
      make("ndt", Resource::kBandwidth, "2.5Gbit"),
      make("ndt", Resource::kThrottle, "10Mbit", now),  // expired at now: dropped
      make("wehe", Resource::kCpu, "2", now + 1s),
  };
  REQUIRE(write_file_atomic(path.string(), serialize_overrides(all)).ok());
  const auto loaded = load_overrides(path.string(), now);
  CHECK_FALSE(loaded.warning);
  REQUIRE(loaded.overrides.size() == 2);
  CHECK(loaded.overrides[0].resource == Resource::kBandwidth);
  CHECK(loaded.overrides[1].experiment == "wehe");
  CHECK(tmp.names() == std::vector<std::string>{"overrides.json"});
}

TEST_CASE("load_overrides sets an unusable file aside and says so", "[overrides]") {
  const auto now = at(1'795'000'000);
  const std::string good = serialize_overrides(
      {make("ndt", Resource::kBandwidth, "2.5Gbit"), make("wehe", Resource::kCpu, "2")});
  struct Case {
    const char* name;
    std::string text;
    const char* problem;
  };
  const Case cases[] = {
      {"truncated", good.substr(0, good.size() / 2), "not valid JSON"},
      {"zero-length", "", "not valid JSON"},
      {"garbage",
       std::string("\x7f"
                   "ELF\x01\x02\x00\xff garbage",
                   16),
       "not valid JSON"},
      {"wrong version", "{\"version\": 7, \"overrides\": []}", "unsupported version 7"},
      {"bad override",
       R"({"version":1,"overrides":[{"experiment":"ndt","resource":"cpu","value":"-1","set_at":1}]})",
       "overrides[0]"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    TempDir tmp;
    const fs::path path = tmp.path / "overrides.json";
    put(path, c.text);
    const auto loaded = load_overrides(path.string(), now);
    CHECK(loaded.overrides.empty());
    REQUIRE(loaded.warning);
    const std::string aside = path.string() + ".bad-1795000000";
    CHECK_THAT(*loaded.warning, Contains(path.string()));
    CHECK_THAT(*loaded.warning, Contains(c.problem));
    CHECK_THAT(*loaded.warning, Contains(aside));
    CHECK_FALSE(fs::exists(path));
    REQUIRE(fs::exists(aside));
    CHECK(get(aside) == c.text);

    // A second bad file in the same second does not replace the first.
    put(path, "junk");
    const auto again = load_overrides(path.string(), now);
    REQUIRE(again.warning);
    CHECK_THAT(*again.warning, Contains(aside + "-1"));
    CHECK(get(aside) == c.text);
    CHECK(get(aside + "-1") == "junk");
  }
}

TEST_CASE("load_overrides says so when the bad file cannot be moved", "[overrides]") {
  TempDir tmp;
  // A name so long that adding ".bad-<time>" makes it too long (ENAMETOOLONG, even for root).
  const fs::path path = tmp.path / std::string(250, 'o');
  put(path, "garbage");
  const auto loaded = load_overrides(path.string(), at(1'795'000'000));
  REQUIRE(loaded.warning);
  CHECK(loaded.overrides.empty());
  CHECK_THAT(*loaded.warning, Contains("not valid JSON"));
  CHECK_THAT(*loaded.warning, Contains("could not move it to"));
  CHECK_THAT(*loaded.warning, Contains("File name too long"));
  CHECK(get(path) == "garbage");
}
