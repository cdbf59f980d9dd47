#include <catch2/catch.hpp>

#include <string>

#include "config/config.hpp"
#include "config/reload_plan.hpp"

using namespace enforcer;

namespace {

Config parse(const std::string& text) {
  ConfigResult r = parse_config(text);
  INFO(text);
  REQUIRE(r.config);
  return *r.config;
}

std::string experiment(const std::string& name, const std::string& address,
                       const std::string& extra = "") {
  return "[[experiment]]\nname = \"" + name + "\"\naddresses = [\"" + address + "\"]\n" + extra;
}

std::uint32_t id_of(const Config& c, const std::string& name) {
  for (const auto& x : c.experiments) {
    if (x.name == name) return x.id;
  }
  return 0;
}

}  // namespace

TEST_CASE("the loaded config numbers experiments by position", "[reload_plan]") {
  const Config c = parse(experiment("a", "198.18.0.1") + experiment("b", "198.18.0.2"));
  CHECK(c.experiments[0].id == 1);
  CHECK(c.experiments[1].id == 2);
}

TEST_CASE("assign_ids keeps known ids and gives new ones the lowest free", "[reload_plan]") {
  Config c = parse(experiment("a", "198.18.0.1") + experiment("b", "198.18.0.2") +
                   experiment("c", "198.18.0.3") + experiment("d", "198.18.0.4"));
  // b and d held 3 and 1; a and c are new: 2, then 4.
  CHECK(assign_ids(c.experiments, {{"b", 3}, {"d", 1}, {"gone", 2}}, 10).empty());
  CHECK(id_of(c, "a") == 2);
  CHECK(id_of(c, "b") == 3);
  CHECK(id_of(c, "c") == 4);
  CHECK(id_of(c, "d") == 1);

  SECTION("an id out of range or taken twice is not kept") {
    CHECK(assign_ids(c.experiments, {{"a", 11}, {"b", 1}, {"c", 1}}, 10).empty());
    CHECK(id_of(c, "b") == 1);
    CHECK(id_of(c, "a") == 2);
    CHECK(id_of(c, "c") == 3);
    CHECK(id_of(c, "d") == 4);
  }
  SECTION("more experiments than ids: an error, the ids stay") {
    const auto errors = assign_ids(c.experiments, {}, 3);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].find("4 experiments configured, daemon.max_experiments is 3") !=
          std::string::npos);
    CHECK(id_of(c, "a") == 2);
  }
}

TEST_CASE("plan_reload: adds, removes and keeps by name", "[reload_plan]") {
  const Config running = parse(experiment("a", "198.18.0.1") + experiment("b", "198.18.0.2") +
                               experiment("c", "198.18.0.3"));
  // b gone; d and e new; c moved up and changed its address.
  Config next = parse(experiment("d", "198.18.0.4") + experiment("a", "198.18.0.1") +
                      experiment("c", "198.18.0.33") + experiment("e", "198.18.0.2"));
  const ReloadPlan plan = plan_reload(running, next);
  CHECK(plan.errors.empty());
  CHECK(id_of(next, "a") == 1);
  CHECK(id_of(next, "c") == 3);
  // New experiments take ids no running experiment holds (b's 2 only when nothing else is free).
  CHECK(id_of(next, "d") == 4);
  CHECK(id_of(next, "e") == 5);
  REQUIRE(plan.added == std::vector<std::size_t>{0, 3});
  REQUIRE(plan.removed == std::vector<std::size_t>{1});
  REQUIRE(plan.kept.size() == 2);
  CHECK(plan.kept[0] == std::pair<std::size_t, std::size_t>{0, 1});
  CHECK(plan.kept[1] == std::pair<std::size_t, std::size_t>{2, 2});
  CHECK(plan.readdressed == std::vector<std::size_t>{2});
}

TEST_CASE("assign_ids: ids to avoid are used when nothing else is free", "[reload_plan]") {
  Config c = parse(experiment("a", "198.18.0.1") + experiment("d", "198.18.0.4") +
                   experiment("e", "198.18.0.5"));
  CHECK(assign_ids(c.experiments, {{"a", 1}, {"b", 2}, {"c", 3}}, 4, {1, 2, 3}).empty());
  CHECK(id_of(c, "a") == 1);
  CHECK(id_of(c, "d") == 4);
  CHECK(id_of(c, "e") == 2);
}

TEST_CASE("plan_reload: a removed experiment that comes back gets a free id", "[reload_plan]") {
  Config running = parse(experiment("a", "198.18.0.1") + experiment("b", "198.18.0.2"));
  Config without_a = parse(experiment("b", "198.18.0.2"));
  REQUIRE(plan_reload(running, without_a).errors.empty());
  CHECK(id_of(without_a, "b") == 2);
  Config again = parse(experiment("b", "198.18.0.2") + experiment("a", "198.18.0.1"));
  const ReloadPlan plan = plan_reload(without_a, again);
  CHECK(plan.errors.empty());
  CHECK(id_of(again, "b") == 2);
  CHECK(id_of(again, "a") == 1);
  CHECK(plan.added == std::vector<std::size_t>{1});
}

TEST_CASE("plan_reload: what needs a restart is named", "[reload_plan]") {
  const std::string exps = experiment("a", "198.18.0.1");
  const Config running = parse("[daemon]\ntick = \"1s\"\n" + exps);
  auto errors_for = [&](const std::string& text) {
    Config next = parse(text);
    return plan_reload(running, next).errors;
  };
  CHECK(errors_for("[daemon]\ntick = \"1s\"\n" + exps).empty());
  CHECK(errors_for("[defaults]\nbandwidth = \"5Mbit\"\n" + exps).empty());
  auto one = [&](const std::string& text, const std::string& needle) {
    const auto errors = errors_for(text);
    REQUIRE(errors.size() == 1);
    INFO(errors[0]);
    CHECK(errors[0].find(needle) != std::string::npos);
    CHECK(errors[0].find("restart") != std::string::npos);
  };
  one("[daemon]\ntick = \"500ms\"\n" + exps, "[daemon]");
  one("[daemon]\nmax_experiments = 10\n" + exps, "[daemon]");
  one("[network]\nlink_rate = \"1Gbit\"\n" + exps, "[network]");
}

TEST_CASE("plan_reload: data_dir and project_id of a kept experiment", "[reload_plan]") {
  const Config running = parse(experiment("a", "198.18.0.1", "data_dir = \"/cache/a\"\n") +
                               experiment("b", "198.18.0.2", "data_dir = \"/cache/b\"\n"));
  SECTION("a changed data_dir") {
    Config next = parse(experiment("a", "198.18.0.1", "data_dir = \"/cache/x\"\n") +
                        experiment("b", "198.18.0.2", "data_dir = \"/cache/b\"\n"));
    const auto errors = plan_reload(running, next).errors;
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].find("experiment \"a\": data_dir changed") != std::string::npos);
  }
  SECTION("a derived project id moves with the position") {
    Config next = parse(experiment("b", "198.18.0.2", "data_dir = \"/cache/b\"\n"));
    const auto errors = plan_reload(running, next).errors;
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].find("experiment \"b\": project_id changed (10002 -> 10001)") !=
          std::string::npos);
  }
  SECTION("an explicit project id does not") {
    const Config r2 =
        parse(experiment("a", "198.18.0.1") +
              experiment("b", "198.18.0.2", "data_dir = \"/cache/b\"\nproject_id = 77\n"));
    Config next =
        parse(experiment("b", "198.18.0.2", "data_dir = \"/cache/b\"\nproject_id = 77\n"));
    const ReloadPlan plan = plan_reload(r2, next);
    CHECK(plan.errors.empty());
    CHECK(plan.removed == std::vector<std::size_t>{0});
  }
}
