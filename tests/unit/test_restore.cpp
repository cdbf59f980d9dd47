// A start's experiments from the window snapshot against a fake datapath
// (lib/lifecycle/restore.hpp). The kernel tier (restart_adopt) proves it on the BPF datapath.
#include <catch2/catch.hpp>

#include <string>

#include "bandwidth/window_snapshot.hpp"
#include "config/config.hpp"
#include "fake_experiment_datapath.hpp"
#include "lifecycle/restore.hpp"
#include "state/experiments.hpp"

using namespace enforcer;
using enforcer::testing::FakeExperimentDatapath;

namespace {

constexpr std::uint64_t kFirstTick = std::uint64_t{1} << 32;

Config parse(const std::string& text) {
  ConfigResult r = parse_config(text);
  INFO(text);
  REQUIRE(r.config);
  return *r.config;
}

std::string experiment(const std::string& name, const std::string& address) {
  return "[[experiment]]\nname = \"" + name + "\"\naddresses = [\"" + address + "\"]\n";
}

FakeExperimentDatapath::Key key(const char* text) {
  auto p = parse_prefix(text);
  REQUIRE(p);
  return FakeExperimentDatapath::key(*p);
}

std::uint32_t slots_of(const Config& c) {
  return static_cast<std::uint32_t>(c.experiments[0].allocation.window / c.daemon.tick);
}

// A snapshot in which b held id 7 (a reload had moved it) and "gone" is no longer configured.
WindowSnapshot snapshot_of(const Config& c) {
  WindowSnapshot s;
  s.tick_ns = c.daemon.tick.count();
  for (const auto& [name, id] : {std::pair<std::string, std::uint32_t>{"b", 7}, {"gone", 3}}) {
    ExperimentSnapshot e;
    e.name = name;
    e.id = id;
    e.window_slots = slots_of(c);
    e.raw.bytes = {5000, 6000};
    for (Direction d : kDirections) {
      e.direction[d].slots = {100, 200, 300};
      e.direction[d].filled = 3;
      e.direction[d].bytes_total = 4000 + static_cast<std::uint64_t>(d);
      e.direction[d].packets_total = 40;
    }
    s.experiments.push_back(e);
  }
  return s;
}

const ExperimentState& in(const ExperimentTable& table, const std::string& name) {
  for (const auto& x : *table.snapshot()) {
    if (x->name == name) return *x;
  }
  FAIL("not in the table: " << name);
  return *table.snapshot()->front();
}

}  // namespace

TEST_CASE("without a snapshot every experiment starts empty from zeroed counters", "[restore]") {
  Config c = parse(experiment("a", "198.18.0.1") + experiment("b", "198.18.0.2"));
  FakeExperimentDatapath dp;
  ExperimentTable table;
  REQUIRE(restore_experiments(dp, table, c, RestoreInput{}));
  CHECK(dp.log == std::vector<std::string>{"add 1", "add 2"});
  REQUIRE(table.snapshot()->size() == 2);
  CHECK(in(table, "a").id == 1);
  CHECK(in(table, "b").direction[kEgress].bytes_total == 0);
  CHECK(in(table, "b").direction[kEgress].window.snapshot().empty);
}

TEST_CASE("a snapshot restores the experiments it knows and drops the others", "[restore]") {
  Config c = parse(experiment("a", "198.18.0.1") + experiment("b", "198.18.0.2"));
  const WindowSnapshot snap = snapshot_of(c);
  RestoreInput input{&snap, "windows.snapshot", 2, kFirstTick};
  FakeExperimentDatapath dp;
  ExperimentTable table;

  SECTION("fresh maps: the ids and totals are restored, the counters start from zero") {
    REQUIRE(restore_experiments(dp, table, c, input));
    // b keeps its id (adopted counters would be its own), a takes the lowest free one.
    CHECK(c.experiments[0].id == 1);
    CHECK(c.experiments[1].id == 7);
    CHECK(dp.log == std::vector<std::string>{"add 1", "add 7"});
    REQUIRE(table.snapshot()->size() == 2);  // "gone" dropped
    const ExperimentState& b = in(table, "b");
    CHECK(b.id == 7);
    CHECK(b.direction[kEgress].bytes_total == 4000);
    CHECK(b.direction[kIngress].bytes_total == 4001);
    CHECK(b.direction[kIngress].packets_total == 40);
    // The window moved 2 ticks on: the newest slot now's, then two missed, then the snapshot's.
    const ShiftedWindow w = shift_window(snap.experiments[0].direction[kEgress], slots_of(c), 2);
    CHECK(b.direction[kEgress].window.newest_first() == w.newest_first);
    CHECK(b.direction[kEgress].window.snapshot().tick == kFirstTick);
    CHECK(b.direction[kEgress].window.snapshot().sum == 600);
    // Not adopted: the counters were zeroed, so is the baseline.
    CHECK(b.last_raw.bytes[0] == 0);
    CHECK(in(table, "a").direction[kEgress].bytes_total == 0);
  }
  SECTION("adopted maps: the same id keeps its counters and the baseline, strays are pruned") {
    dp.is_adopted = true;
    dp.maps.addresses[key("198.18.0.9")] = 3;  // "gone"'s, left by the previous run
    dp.maps.counters = {{7, 5000}, {3, 900}};
    REQUIRE(restore_experiments(dp, table, c, input));
    CHECK(dp.log == std::vector<std::string>{"add 1", "keep 7"});
    CHECK(dp.maps.counters.at(7) == 5000);
    CHECK(in(table, "b").last_raw.bytes == std::array<std::uint64_t, 2>{5000, 6000});
    CHECK(in(table, "a").last_raw.bytes[0] == 0);
    CHECK(dp.maps.addresses == std::map<FakeExperimentDatapath::Key, std::uint32_t>{
                                   {key("198.18.0.1"), 1}, {key("198.18.0.2"), 7}});
  }
  SECTION("a changed window restores the totals only") {
    WindowSnapshot other = snap;
    other.experiments[0].window_slots += 1;
    input.snapshot = &other;
    REQUIRE(restore_experiments(dp, table, c, input));
    CHECK(in(table, "b").direction[kEgress].bytes_total == 4000);
    CHECK(in(table, "b").direction[kEgress].window.snapshot().empty);
  }
  SECTION("a datapath failure publishes nothing") {
    dp.fail_calls = {2};
    auto r = restore_experiments(dp, table, c, input);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("experiment \"b\""));
    CHECK(table.snapshot()->empty());
  }
}

TEST_CASE("adopted maps without a snapshot zero every experiment's counters", "[restore]") {
  Config c = parse(experiment("a", "198.18.0.1"));
  FakeExperimentDatapath dp;
  dp.is_adopted = true;
  dp.maps.counters = {{1, 5000}};
  ExperimentTable table;
  REQUIRE(restore_experiments(dp, table, c, RestoreInput{}));
  CHECK(dp.log == std::vector<std::string>{"add 1"});
  CHECK(dp.maps.counters.empty());
}
