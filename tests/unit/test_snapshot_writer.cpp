// The window snapshot written off the daemon's loop (lib/bandwidth/snapshot_writer.hpp): what a
// capture copies from the experiments, a written file that parses back to what was handed over,
// a newer snapshot replacing one that waits, flush() as the clean stop's barrier, a failed write
// that leaves the old file and is counted, and the destructor writing what still waits.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bandwidth/snapshot_writer.hpp"
#include "base/state_file.hpp"
#include "temp_dir.hpp"

using namespace enforcer;
using enforcer::test::TempDir;

namespace {

std::shared_ptr<ExperimentState> experiment(std::uint32_t id, const std::string& name,
                                            std::uint32_t slots) {
  ExperimentConfig c;
  c.name = name;
  return std::make_shared<ExperimentState>(id, c, slots);
}

// A snapshot whose only experiment's newest egress slot says which one it is.
WindowSnapshot numbered(std::uint64_t n) {
  WindowSnapshot s;
  s.tick_ns = 1'000'000'000;
  s.wall_ns = 1'795'000'000'000'000'000;
  s.monotonic_ns = 5'000'000'000;
  s.boot_id = "0b7e2f1c-1111-2222-3333-444455556666";
  ExperimentSnapshot& x = s.experiments.emplace_back();
  x.name = "ndt";
  x.id = 1;
  x.window_slots = 3;
  x.direction[kEgress] = DirectionSnapshot{{n, 0, 0}, 3, n, 1, 0, 0};
  x.direction[kIngress] = DirectionSnapshot{{}, 0, 0, 0, 0, 0};
  return s;
}

WindowSnapshot read_back(const std::string& path) {
  bool missing = false;
  auto text = read_file(path, missing);
  REQUIRE(text);
  REQUIRE_FALSE(missing);
  auto parsed = parse_window_snapshot(*text);
  REQUIRE(parsed);
  return *parsed;
}

std::uint64_t newest_egress(const WindowSnapshot& s) {
  REQUIRE(s.experiments.size() == 1);
  REQUIRE_FALSE(s.experiments[0].direction[kEgress].slots.empty());
  return s.experiments[0].direction[kEgress].slots[0];
}

}  // namespace

TEST_CASE("a capture copies each experiment's windows, totals and raw counters", "[snapshot]") {
  ExperimentList list{experiment(1, "ndt", 4), experiment(3, "wehe", 2)};
  ExperimentState& ndt = *list[0];
  ndt.direction[kEgress].window.record(10, 100);
  ndt.direction[kEgress].window.record(11, 200);
  ndt.direction[kIngress].window.record(11, 7);
  ndt.direction[kEgress].bytes_total = 300;
  ndt.direction[kEgress].packets_total = 3;
  ndt.direction[kIngress].dropped_bytes_total = 40;
  ndt.direction[kIngress].dropped_packets_total = 2;
  ndt.last_raw.bytes = {1300, 7};
  ndt.last_raw.charged = {9, 8};

  const WindowSnapshot s = capture_window_snapshot(list, {1'000'000, 2'000, 3'000, "boot"});
  CHECK(s.tick_ns == 1'000'000);
  CHECK(s.wall_ns == 2'000);
  CHECK(s.monotonic_ns == 3'000);
  CHECK(s.boot_id == "boot");
  REQUIRE(s.experiments.size() == 2);
  const ExperimentSnapshot& x = s.experiments[0];
  CHECK(x.name == "ndt");
  CHECK(x.id == 1);
  CHECK(x.window_slots == 4);
  CHECK(x.direction[kEgress].slots == std::vector<std::uint64_t>{200, 100});
  CHECK(x.direction[kEgress].filled == 2);
  CHECK(x.direction[kEgress].bytes_total == 300);
  CHECK(x.direction[kEgress].packets_total == 3);
  CHECK(x.direction[kIngress].slots == std::vector<std::uint64_t>{7});
  CHECK(x.direction[kIngress].dropped_bytes_total == 40);
  CHECK(x.direction[kIngress].dropped_packets_total == 2);
  CHECK(x.raw.bytes == ndt.last_raw.bytes);
  CHECK(x.raw.charged == ndt.last_raw.charged);
  // Nothing recorded: empty windows.
  CHECK(s.experiments[1].name == "wehe");
  CHECK(s.experiments[1].window_slots == 2);
  CHECK(s.experiments[1].direction[kEgress].slots.empty());
}

TEST_CASE("the writer's file parses back to the snapshot it was handed", "[snapshot]") {
  TempDir dir;
  const std::string path = (dir.path / "windows.snapshot").string();
  SnapshotWriter writer(path);
  CHECK(writer.idle());
  writer.submit(numbered(42));
  writer.flush();
  CHECK(writer.idle());
  const WindowSnapshot back = read_back(path);
  CHECK(back.tick_ns == 1'000'000'000);
  CHECK(back.boot_id == "0b7e2f1c-1111-2222-3333-444455556666");
  CHECK(newest_egress(back) == 42);
  const auto stats = writer.stats();
  CHECK(stats.written == 1);
  CHECK(stats.failed == 0);
  CHECK(stats.last_duration > std::chrono::nanoseconds(0));
  // Only the file: the temporary one is gone.
  CHECK(dir.names() == std::vector<std::string>{"windows.snapshot"});
}

TEST_CASE("a newer snapshot replaces one that waits, and flush() waits for the last",
          "[snapshot]") {
  TempDir dir;
  const std::string path = (dir.path / "windows.snapshot").string();
  SnapshotWriter writer(path);
  constexpr std::uint64_t kSubmitted = 200;
  for (std::uint64_t n = 1; n <= kSubmitted; ++n) writer.submit(numbered(n));
  writer.flush();
  // Whatever the thread took meanwhile, the last one handed over is what the file holds.
  CHECK(newest_egress(read_back(path)) == kSubmitted);
  const auto stats = writer.stats();
  CHECK(stats.written + stats.replaced == kSubmitted);
  CHECK(stats.written >= 1);
}

TEST_CASE("a write that fails leaves the old file and is counted", "[snapshot]") {
  TempDir dir;
  const std::string path = (dir.path / "windows.snapshot").string();
  SnapshotWriter writer(path);
  writer.submit(numbered(1));
  writer.flush();
  // The directory's write permission is what the writer needs for its temporary file; root
  // ignores it, so the directory is replaced by a file of the same name instead.
  const std::string blocked = (dir.path / "gone" / "windows.snapshot").string();
  SnapshotWriter failing(blocked);
  enforcer::test::put(dir.path / "gone", "not a directory\n");
  failing.submit(numbered(2));
  failing.flush();
  CHECK(failing.stats().failed == 1);
  CHECK(failing.stats().written == 0);
  CHECK(failing.idle());
  CHECK(newest_egress(read_back(path)) == 1);
}

TEST_CASE("the writer's destructor writes the snapshot that waits", "[snapshot]") {
  TempDir dir;
  const std::string path = (dir.path / "windows.snapshot").string();
  {
    SnapshotWriter writer(path);
    writer.submit(numbered(7));
  }
  CHECK(newest_egress(read_back(path)) == 7);
}
