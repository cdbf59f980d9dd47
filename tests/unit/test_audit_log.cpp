// The audit trail of changes (lib/control/audit_log.hpp): one JSON line per entry, bounded by
// rotation.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "control/audit_log.hpp"
#include "temp_dir.hpp"

using namespace enforcer;
using Catch::Matchers::Contains;
using Catch::Matchers::Matches;
namespace fs = std::filesystem;
using json = nlohmann::json;

using enforcer::test::put;
using enforcer::test::TempDir;

namespace {

std::vector<json> read_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<json> out;
  std::string line;
  while (std::getline(in, line)) {
    INFO(line);
    REQUIRE_NOTHROW(out.push_back(json::parse(line)));
  }
  return out;
}

AuditEntry entry(int n) {
  AuditEntry e;
  e.uid = 0;
  e.pid = 1000 + n;
  e.command = "override.set";
  e.experiment = "ndt";
  e.change = "bandwidth 100Mbit -> 2.5Gbit until 2026-11-28T05:00:00Z";
  e.reason = "ticket " + std::to_string(n);
  return e;
}

}  // namespace

TEST_CASE("audit log lines are JSON with every field", "[audit]") {
  TempDir tmp;
  const fs::path path = tmp.path / "audit.log";
  AuditLog log(path.string());
  CHECK(log.path() == path.string());
  REQUIRE(log.append(entry(1)).ok());
  AuditEntry reload;
  reload.uid = 4294967295u;
  reload.pid = -1;
  reload.command = "reload";
  reload.change = "config reloaded";
  reload.reason = "quote \" newline \n invalid \xff utf-8";
  REQUIRE(log.append(reload).ok());

  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  const auto lines = read_lines(path);
  REQUIRE(lines.size() == 2);
  const json& a = lines[0];
  CHECK_THAT(a["time"].get<std::string>(),
             Matches(R"(20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z)"));
  CHECK(a["uid"] == 0);
  CHECK(a["pid"] == 1001);
  CHECK(a["command"] == "override.set");
  CHECK(a["experiment"] == "ndt");
  CHECK(a["change"] == "bandwidth 100Mbit -> 2.5Gbit until 2026-11-28T05:00:00Z");
  CHECK(a["reason"] == "ticket 1");
  const json& b = lines[1];
  CHECK(b["uid"] == 4294967295u);
  CHECK(b["pid"] == -1);
  CHECK(b["experiment"] == "");
  CHECK_THAT(b["reason"].get<std::string>(), Contains("quote \" newline \n invalid"));
}

TEST_CASE("audit log rotation keeps at most two files, the newest entry in audit.log", "[audit]") {
  TempDir tmp;
  const fs::path path = tmp.path / "audit.log";
  const std::uint64_t max_bytes = 1000;
  AuditLog log(path.string(), max_bytes);
  for (int i = 1; i <= 50; ++i) {
    REQUIRE(log.append(entry(i)).ok());
    const auto names = tmp.names();
    CHECK(names.size() <= 2);
    CHECK(fs::file_size(path) <= max_bytes);
    const auto newest = read_lines(path);
    REQUIRE_FALSE(newest.empty());
    CHECK(newest.back()["reason"] == "ticket " + std::to_string(i));
  }
  CHECK(tmp.names() == (std::vector<std::string>{"audit.log", "audit.log.1"}));
  // The two files together hold the most recent entries, in order, without gaps.
  auto older = read_lines(tmp.path / "audit.log.1");
  const auto newer = read_lines(path);
  older.insert(older.end(), newer.begin(), newer.end());
  REQUIRE(older.size() >= 2);
  const int first = 51 - static_cast<int>(older.size());
  for (std::size_t k = 0; k < older.size(); ++k) {
    CHECK(older[k]["reason"] == "ticket " + std::to_string(first + static_cast<int>(k)));
  }
  CHECK(fs::file_size(tmp.path / "audit.log.1") <= max_bytes);
}

TEST_CASE("an entry longer than max_bytes still gets written, in a file of its own", "[audit]") {
  TempDir tmp;
  const fs::path path = tmp.path / "audit.log";
  AuditLog log(path.string(), 100);
  REQUIRE(log.append(entry(1)).ok());
  REQUIRE(log.append(entry(2)).ok());
  const auto lines = read_lines(path);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["reason"] == "ticket 2");
  CHECK(read_lines(tmp.path / "audit.log.1").size() == 1);
}

TEST_CASE("audit log errors are returned with the path", "[audit]") {
  TempDir tmp;
  const fs::path path = tmp.path / "missing-dir" / "audit.log";
  AuditLog log(path.string());
  auto r = log.append(entry(1));
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Contains(path.string()));
  CHECK_THAT(r.error().message, Contains("No such file or directory"));
}
