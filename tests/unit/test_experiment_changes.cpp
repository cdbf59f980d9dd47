// A reload's experiment changes against a fake datapath: the changes themselves, and the undo of
// a failure at each datapath step (lib/lifecycle/experiment_changes.hpp). The kernel tier
// (reload_config, reload_rollback) proves the same on the BPF datapath.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/reload_plan.hpp"
#include "fake_experiment_datapath.hpp"
#include "lifecycle/experiment_changes.hpp"
#include "state/experiments.hpp"

using namespace enforcer;
using enforcer::testing::FakeExperimentDatapath;

namespace {

Config parse(const std::string& text) {
  ConfigResult r = parse_config(text);
  INFO(text);
  REQUIRE(r.config);
  return *r.config;
}

std::string experiment(const std::string& name, const std::string& addresses) {
  return "[[experiment]]\nname = \"" + name + "\"\naddresses = [" + addresses + "]\n";
}

Prefix prefix(const std::string& text) {
  auto p = parse_prefix(text);
  REQUIRE(p);
  return *p;
}

const ExperimentConfig& find(const Config& c, const std::string& name) {
  for (const auto& x : c.experiments) {
    if (x.name == name) return x;
  }
  FAIL("no experiment " << name);
  return c.experiments.front();
}

// A daemon running `running`: its experiments in the datapath (each with counters and cgroups)
// and in the table (each with a counters' baseline and a limit pushed).
struct Running {
  explicit Running(Config c) : config(std::move(c)) {
    ExperimentList list;
    for (const auto& x : config.experiments) {
      REQUIRE(datapath.add_experiment(x.id, x.addresses));
      datapath.maps.counters[x.id] = 1000 * x.id;
      datapath.maps.cgroups.insert(x.id);
      auto state = std::make_shared<ExperimentState>(x.id, x, 10);
      state->last_raw.bytes = {1000 * x.id, 0};
      state->limit_pushed = true;
      list.push_back(std::move(state));
    }
    table.publish(std::move(list));
    datapath.calls = 0;
    datapath.log.clear();
  }

  Config config;
  FakeExperimentDatapath datapath;
  ExperimentTable table;
};

// a kept as it is, b re-addressed (198.18.0.2 dropped, .22 new), c removed, d and e added.
const std::string kBefore = experiment("a", "\"198.18.0.1\"") + experiment("b", "\"198.18.0.2\"") +
                            experiment("c", "\"198.18.0.3\"");
const std::string kAfter = experiment("a", "\"198.18.0.1\"") + experiment("d", "\"198.18.0.4\"") +
                           experiment("b", "\"198.18.0.22\"") +
                           experiment("e", "\"198.18.0.5\", \"198.18.0.3\"");

}  // namespace

TEST_CASE("a plan that changes no experiment changes nothing", "[experiment_changes]") {
  Config running = parse(kBefore);
  Config next = parse(kBefore);
  const ReloadPlan plan = plan_reload(running, next);
  CHECK_FALSE(changes_experiments(plan));
  CHECK(changes_experiments(plan_reload(running, next = parse(kAfter))));
}

TEST_CASE("a reload adds, keeps, re-addresses and removes experiments", "[experiment_changes]") {
  Running r(parse(kBefore));
  Config next = parse(kAfter);
  const ReloadPlan plan = plan_reload(r.config, next);
  REQUIRE(plan.errors.empty());
  const auto before = r.table.snapshot();
  const std::uint32_t a = find(next, "a").id, b = find(next, "b").id, c = 3;
  const std::uint32_t d = find(next, "d").id, e = find(next, "e").id;
  // New experiments take ids the running ones do not hold, so that an undo touches none of theirs.
  CHECK(d == 4);
  CHECK(e == 5);

  REQUIRE(change_experiments(r.datapath, r.table, r.config, next, plan));
  // c's address moved to e without being unattributed in between; b's old one is gone.
  CHECK(r.datapath.log == std::vector<std::string>{"remove_addresses", "add 4", "add 5",
                                                   "keep " + std::to_string(b)});
  const auto k = [](const char* text) { return FakeExperimentDatapath::key(prefix(text)); };
  CHECK(r.datapath.maps.addresses ==
        std::map<FakeExperimentDatapath::Key, std::uint32_t>{{k("198.18.0.1"), a},
                                                             {k("198.18.0.22"), b},
                                                             {k("198.18.0.3"), e},
                                                             {k("198.18.0.4"), d},
                                                             {k("198.18.0.5"), e}});
  // Kept experiments keep their counters; new ones start from zero (absent).
  CHECK(r.datapath.maps.counters ==
        std::map<std::uint32_t, std::uint64_t>{{a, 1000 * a}, {b, 1000 * b}, {c, 1000 * c}});

  // The table: next's order; kept experiments are the same objects (window, totals, baseline,
  // limit), new ones fresh.
  const auto after = r.table.snapshot();
  REQUIRE(after->size() == 4);
  CHECK((*after)[0] == (*before)[0]);
  CHECK((*after)[1]->name == "d");
  CHECK((*after)[1]->id == d);
  CHECK((*after)[1]->last_raw.bytes[0] == 0);
  CHECK_FALSE((*after)[1]->limit_pushed);
  CHECK((*after)[2] == (*before)[1]);
  CHECK((*after)[3]->name == "e");

  // Then c's id is freed: counters zeroed, cgroups detached.
  retire_experiments(r.datapath, r.config, next, plan);
  CHECK(r.datapath.maps.counters ==
        std::map<std::uint32_t, std::uint64_t>{{a, 1000 * a}, {b, 1000 * b}});
  CHECK(r.datapath.maps.cgroups == std::set<std::uint32_t>{a, b});
}

TEST_CASE("a failure at any step of a reload leaves the previous state exactly",
          "[experiment_changes]") {
  // The steps: 1 stale addresses removed, 2 and 3 d and e added, 4 b re-addressed.
  for (int step = 1; step <= 4; ++step) {
    DYNAMIC_SECTION("step " << step << " fails") {
      Running r(parse(kBefore));
      Config next = parse(kAfter);
      const ReloadPlan plan = plan_reload(r.config, next);
      const auto maps = r.datapath.maps;
      const auto table = r.table.snapshot();
      r.datapath.fail_calls = {step};

      auto result = change_experiments(r.datapath, r.table, r.config, next, plan);
      REQUIRE_FALSE(result);
      CHECK_THAT(result.error().message,
                 Catch::Contains("the reload was undone") &&
                     Catch::Contains("still enforcing the previous configuration"));
      // Every address attributed as before (those a failed call half wrote too), the running
      // experiments' counters and cgroups untouched, the added ids' counters zeroed.
      CHECK(r.datapath.maps == maps);
      // Not published again: the same experiment objects with the same state.
      CHECK(r.table.snapshot() == table);
      for (const auto& x : *table) {
        CHECK(x->last_raw.bytes[0] == 1000 * x->id);
        CHECK(x->limit_pushed);
      }
    }
  }
}

TEST_CASE("a failed add's undo clears the experiment it added before", "[experiment_changes]") {
  Running r(parse(kBefore));
  Config next = parse(kAfter);
  const ReloadPlan plan = plan_reload(r.config, next);
  r.datapath.fail_calls = {3};  // e's add; d's went through
  REQUIRE_FALSE(change_experiments(r.datapath, r.table, r.config, next, plan));
  const std::vector<std::string> undo(r.datapath.log.begin() + 3, r.datapath.log.end());
  CHECK(undo == std::vector<std::string>{"remove 4", "remove 5", "remove_addresses",
                                         "remove_addresses", "remove_addresses", "remove_addresses",
                                         "keep 1", "keep 2", "keep 3"});
}

TEST_CASE("an undo that fails in part says which entries may be off", "[experiment_changes]") {
  Running r(parse(kBefore));
  Config next = parse(kAfter);
  const ReloadPlan plan = plan_reload(r.config, next);
  // d's add fails, then the undo's re-writing of a's addresses (its 6th call: d removed, four
  // address removals, then a).
  r.datapath.fail_calls = {2, 2 + 6};
  auto result = change_experiments(r.datapath, r.table, r.config, next, plan);
  REQUIRE_FALSE(result);
  CHECK_THAT(result.error().message, Catch::Contains("undoing the reload failed in part") &&
                                         Catch::Contains("experiment \"a\": injected failure"));
  CHECK(r.table.snapshot()->size() == 3);
}

TEST_CASE("a reload that gives a removed experiment's id to a new one", "[experiment_changes]") {
  // max_experiments = 2 leaves c only b's id.
  const std::string daemon = "[daemon]\nmax_experiments = 2\n";
  Running r(parse(daemon + experiment("a", "\"198.18.0.1\"") + experiment("b", "\"198.18.0.2\"")));
  Config next =
      parse(daemon + experiment("a", "\"198.18.0.1\"") + experiment("c", "\"198.18.0.3\""));
  const ReloadPlan plan = plan_reload(r.config, next);
  REQUIRE(plan.errors.empty());
  REQUIRE(find(next, "c").id == 2);

  SECTION("succeeds: b's id is only detached from its cgroups, its counters went with the add") {
    REQUIRE(change_experiments(r.datapath, r.table, r.config, next, plan));
    retire_experiments(r.datapath, r.config, next, plan);
    CHECK(r.datapath.log.back() == "detach_cgroups 2");
    CHECK(r.datapath.maps.counters == std::map<std::uint32_t, std::uint64_t>{{1, 1000}});
    CHECK(r.datapath.maps.addresses.size() == 2);
    CHECK(r.datapath.maps.addresses.at(FakeExperimentDatapath::key(prefix("198.18.0.3"))) == 2);
  }
  SECTION("fails: b runs on with its addresses, from zeroed counters it samples from 0") {
    const auto maps = r.datapath.maps;
    const auto table = r.table.snapshot();
    r.datapath.fail_calls = {2};  // c's add, after writing its address
    REQUIRE_FALSE(change_experiments(r.datapath, r.table, r.config, next, plan));
    CHECK(r.datapath.maps.addresses == maps.addresses);
    CHECK(r.datapath.maps.cgroups == maps.cgroups);
    // The add zeroed the id's counters (that much cannot be undone): b's baseline follows, and
    // its limit is pushed again.
    CHECK(r.datapath.maps.counters == std::map<std::uint32_t, std::uint64_t>{{1, 1000}});
    CHECK(r.table.snapshot() == table);
    CHECK((*table)[1]->last_raw.bytes[0] == 0);
    CHECK_FALSE((*table)[1]->limit_pushed);
    CHECK((*table)[0]->last_raw.bytes[0] == 1000);
    CHECK((*table)[0]->limit_pushed);
  }
}
