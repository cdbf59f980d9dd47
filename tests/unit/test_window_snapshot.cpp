// The window snapshot a restarted daemon resumes from (lib/bandwidth/window_snapshot.hpp): the JSON
// round trip, the shift by the time that passed (missed ticks are zeros, slots older than the
// window are gone), a changed window length or tick, and files that are missing, empty, torn or
// corrupt.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "bandwidth/window_snapshot.hpp"
#include "state/window_ring.hpp"
#include "temp_dir.hpp"

using namespace enforcer;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

using enforcer::test::put;
using enforcer::test::TempDir;

namespace {

WindowSnapshot sample_snapshot() {
  WindowSnapshot s;
  s.tick_ns = 1'000'000'000;
  s.wall_ns = 1'795'000'000'000'000'000;
  s.monotonic_ns = 123'456'789'000;
  s.boot_id = "0b7e2f1c-1111-2222-3333-444455556666";
  ExperimentSnapshot x;
  x.name = "ndt";
  x.id = 2;
  x.window_slots = 5;
  x.direction[kEgress] = DirectionSnapshot{{50, 40, 30, 20, 10}, 5, 1'000'000, 900, 7, 1};
  x.direction[kIngress] = DirectionSnapshot{{3, 2}, 2, 5, 2, 0, 0};
  x.raw.bytes = {18'446'744'073'709'551'000ULL, 5};
  x.raw.packets = {900, 2};
  x.raw.dropped_bytes = {7, 0};
  x.raw.dropped_packets = {1, 0};
  s.experiments.push_back(x);
  ExperimentSnapshot y;
  y.name = "wehe";
  y.id = 1;
  y.window_slots = 300;
  s.experiments.push_back(y);
  return s;
}

bool same(const WindowSnapshot& a, const WindowSnapshot& b) {
  if (a.version != b.version || a.tick_ns != b.tick_ns || a.wall_ns != b.wall_ns ||
      a.monotonic_ns != b.monotonic_ns || a.boot_id != b.boot_id ||
      a.experiments.size() != b.experiments.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.experiments.size(); ++i) {
    const auto& x = a.experiments[i];
    const auto& y = b.experiments[i];
    if (x.name != y.name || x.id != y.id || x.window_slots != y.window_slots ||
        x.direction != y.direction || x.raw.bytes != y.raw.bytes ||
        x.raw.packets != y.raw.packets || x.raw.dropped_bytes != y.raw.dropped_bytes ||
        x.raw.dropped_packets != y.raw.dropped_packets) {
      return false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE("the snapshot's text is the dump of the JSON document it stands for", "[snapshot]") {
  // The document as the daemon built it before it wrote the text directly.
  using json = nlohmann::json;
  auto document = [](const WindowSnapshot& s) {
    json experiments = json::array();
    for (const auto& x : s.experiments) {
      json dirs = json::object();
      for (Direction d : kDirections) {
        const DirectionSnapshot& ds = x.direction[d];
        dirs[direction_name(d)] = json{{"slots", ds.slots},
                                       {"filled", ds.filled},
                                       {"bytes_total", ds.bytes_total},
                                       {"packets_total", ds.packets_total},
                                       {"dropped_bytes_total", ds.dropped_bytes_total},
                                       {"dropped_packets_total", ds.dropped_packets_total},
                                       {"raw",
                                        {{"bytes", x.raw.bytes[d]},
                                         {"packets", x.raw.packets[d]},
                                         {"dropped_bytes", x.raw.dropped_bytes[d]},
                                         {"dropped_packets", x.raw.dropped_packets[d]}}}};
      }
      experiments.push_back(json{{"name", x.name},
                                 {"id", x.id},
                                 {"window_slots", x.window_slots},
                                 {"direction", std::move(dirs)}});
    }
    return json{{"version", s.version}, {"tick_ns", s.tick_ns},
                {"wall_ns", s.wall_ns}, {"monotonic_ns", s.monotonic_ns},
                {"boot_id", s.boot_id}, {"experiments", std::move(experiments)}}
               .dump() +
           "\n";
  };
  WindowSnapshot s = sample_snapshot();
  CHECK(serialize_window_snapshot(s) == document(s));
  s.experiments[1].name = "quote\"back\\slash\nnew line\x01";
  s.boot_id = "";
  s.monotonic_ns = -5;  // never written, but an integer all the same
  CHECK(serialize_window_snapshot(s) == document(s));
  s.experiments.clear();
  CHECK(serialize_window_snapshot(s) == document(s));
}

TEST_CASE("a snapshot survives its JSON form unchanged", "[snapshot]") {
  const WindowSnapshot s = sample_snapshot();
  auto parsed = parse_window_snapshot(serialize_window_snapshot(s));
  REQUIRE(parsed);
  CHECK(same(*parsed, s));
  REQUIRE(parsed->find("wehe"));
  CHECK(parsed->find("wehe")->id == 1);
  CHECK(parsed->find("msak") == nullptr);
}

TEST_CASE("a ring's slots go into the snapshot and come back", "[snapshot]") {
  WindowRing ring(4);
  ring.record(10, 1);
  ring.record(11, 2);
  ring.record(13, 4);  // tick 12 missed
  CHECK(ring.newest_first() == std::vector<std::uint64_t>{4, 0, 2, 1});
  const auto before = ring.snapshot();

  WindowRing back(4);
  const std::uint64_t head = 1ULL << 32;
  back.restore(head, ring.newest_first(), before.filled);
  const auto after = back.snapshot();
  CHECK(after.sum == before.sum);
  CHECK(after.oldest == before.oldest);
  CHECK(after.newest == before.newest);
  CHECK(after.filled == before.filled);
  CHECK(after.tick == head);
  // Recording goes on from there as in the original ring.
  back.record(head + 1, 8);
  ring.record(14, 8);
  CHECK(back.snapshot().sum == ring.snapshot().sum);
  CHECK(back.newest_first() == ring.newest_first());
}

TEST_CASE("the window moves on by the time that passed", "[snapshot]") {
  const DirectionSnapshot d{{50, 40, 30, 20, 10}, 5, 0, 0, 0, 0};
  SECTION("no time: the same slots (the sampler adds the gap's bytes to the newest)") {
    CHECK(shift_window(d, 5, 0) == ShiftedWindow{{50, 40, 30, 20, 10}, 5});
  }
  SECTION("two ticks: two zeros in front, the two oldest are gone") {
    CHECK(shift_window(d, 5, 2) == ShiftedWindow{{0, 0, 50, 40, 30}, 5});
  }
  SECTION("a window's length or more: nothing is left") {
    CHECK(shift_window(d, 5, 5) == ShiftedWindow{{0, 0, 0, 0, 0}, 5});
    CHECK(shift_window(d, 5, 1'000'000) == ShiftedWindow{{0, 0, 0, 0, 0}, 5});
  }
  SECTION("a window not filled yet grows by the time that passed") {
    const DirectionSnapshot young{{7, 6}, 2, 0, 0, 0, 0};
    CHECK(shift_window(young, 5, 1) == ShiftedWindow{{0, 7, 6}, 3});
  }
  SECTION("an empty window stays empty") {
    CHECK(shift_window(DirectionSnapshot{}, 5, 3) == ShiftedWindow{});
  }
}

TEST_CASE("the elapsed time: monotonic within a boot, wall clock across boots", "[snapshot]") {
  const WindowSnapshot s = sample_snapshot();
  const std::int64_t t = s.tick_ns;
  // Same boot: the monotonic clock decides, whatever the wall clock did.
  CHECK(ticks_since(s, s.wall_ns - 100 * t, s.monotonic_ns + 3 * t + t / 2, s.boot_id) == 3);
  // Another boot: the wall clock.
  CHECK(ticks_since(s, s.wall_ns + 7 * t, 5, "other") == 7);
  // A wall clock behind the snapshot's: no time passed.
  CHECK(ticks_since(s, s.wall_ns - t, 5, "other") == 0);
}

TEST_CASE("values out of their range are errors, never truncated or overflowed", "[snapshot]") {
  const std::string good = serialize_window_snapshot(sample_snapshot());
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
  };
  struct Case {
    std::string text;
    const char* error;
  };
  const Case cases[] = {
      {replaced("\"id\":1", "\"id\":4294967297"), "id: out of range"},
      {replaced("\"wall_ns\":", "\"wall_ns\":-"), "must be >= 0"},
      {replaced("\"monotonic_ns\":", "\"monotonic_ns\":-"), "must be >= 0"},
      {replaced("\"tick_ns\":1000000000", "\"tick_ns\":9223372036854775808"),
       "tick_ns: out of range"},
      {replaced("\"version\":", "\"version\":4294967296"), "version: out of range"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    auto parsed = parse_window_snapshot(c.text);
    REQUIRE_FALSE(parsed);
    CHECK_THAT(parsed.error().message, Catch::Matchers::Contains(c.error));
  }
  // The elapsed time cannot overflow, whatever the clocks say.
  WindowSnapshot s = sample_snapshot();
  s.wall_ns = 0;
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  CHECK(ticks_since(s, kMin, 0, "other") == 0);
  CHECK(ticks_since(s, kMax, 0, "other") == static_cast<std::uint64_t>(kMax / s.tick_ns));
  s.wall_ns = kMax;
  CHECK(ticks_since(s, kMin, 0, "other") == 0);
}

TEST_CASE("a snapshot from an older window length or tick restores the totals only", "[snapshot]") {
  const WindowSnapshot s = sample_snapshot();
  auto same_window = match_experiment(s, "ndt", 1s, 5);
  CHECK(same_window.from != nullptr);
  CHECK(same_window.windows);
  auto longer = match_experiment(s, "ndt", 1s, 10);
  CHECK(longer.from != nullptr);
  CHECK_FALSE(longer.windows);
  CHECK_THAT(longer.note, Contains("window changed"));
  auto other_tick = match_experiment(s, "ndt", 500ms, 5);
  CHECK_FALSE(other_tick.windows);
  CHECK_THAT(other_tick.note, Contains("tick changed"));
  auto unknown = match_experiment(s, "msak", 1s, 5);
  CHECK(unknown.from == nullptr);
}

TEST_CASE("a missing snapshot is normal, a bad one is set aside and reported", "[snapshot]") {
  TempDir dir("enforcer-snap");
  const std::string path = (dir.path / "windows.snapshot").string();
  const auto now = std::chrono::system_clock::now();

  SECTION("missing") {
    auto r = load_window_snapshot(path, now);
    CHECK_FALSE(r.snapshot);
    CHECK_FALSE(r.warning);
  }
  SECTION("good") {
    put(path, serialize_window_snapshot(sample_snapshot()));
    auto r = load_window_snapshot(path, now);
    REQUIRE(r.snapshot);
    CHECK_FALSE(r.warning);
    CHECK(same(*r.snapshot, sample_snapshot()));
  }
  const std::string good = serialize_window_snapshot(sample_snapshot());
  for (const auto& [what, text, expect] :
       {std::tuple{"zero-length", std::string{}, "empty"},
        std::tuple{"truncated", good.substr(0, good.size() / 2), "not valid JSON"},
        std::tuple{"not JSON", std::string{"\x01\x02garbage"}, "not valid JSON"},
        std::tuple{"a number beyond a double", std::string{"3e44444"}, "number overflow"},
        std::tuple{"a field missing", std::string{R"({"version":1,"tick_ns":1000})"}, "wall_ns"},
        std::tuple{"another version", std::string{R"({"version":9})"}, "version 9"},
        std::tuple{
            "a negative byte count",
            std::string{R"({"version":1,"tick_ns":1,"wall_ns":0,"monotonic_ns":0,"boot_id":"",)"
                        R"("experiments":[{"name":"a","id":1,"window_slots":2,"direction":)"
                        R"({"egress":{"slots":[-1]}}}]})"},
            "not a byte count"}}) {
    SECTION(what) {
      put(path, text);
      auto r = load_window_snapshot(path, now);
      CHECK_FALSE(r.snapshot);
      REQUIRE(r.warning);
      CHECK_THAT(*r.warning, Contains(path));
      CHECK_THAT(*r.warning, Contains(expect));
      CHECK_THAT(*r.warning, Contains("moved it to"));
      const auto names = dir.names();
      REQUIRE(names.size() == 1);
      CHECK_THAT(names[0], Contains("windows.snapshot.bad-"));
    }
  }
}
