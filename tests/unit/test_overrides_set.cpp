// OverrideSet (one override per experiment and resource) and the overrides' JSON form: round
// trips, and parse errors that say what is wrong and where.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "control/overrides.hpp"
#include "overrides_test_support.hpp"

using namespace enforcer;
using namespace enforcer::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

TEST_CASE("OverrideSet keeps one override per experiment and resource", "[overrides]") {
  const auto now = at(1'795'000'000);
  OverrideSet set;
  CHECK_FALSE(set.next_expiry());
  CHECK_FALSE(set.set(make("ndt", Resource::kBandwidth, "1Gbit")));
  CHECK_FALSE(set.set(make("ndt", Resource::kCpu, "2", now + 10s)));
  CHECK_FALSE(set.set(make("wehe", Resource::kBandwidth, "200Mbit", now + 5s)));
  CHECK_FALSE(set.set(make("ndt", Resource::kThrottle, "10Mbit", now + 20s)));
  REQUIRE(set.all().size() == 4);

  SECTION("set replaces and returns the old one") {
    auto old = set.set(make("ndt", Resource::kBandwidth, "2.5Gbit"));
    REQUIRE(old);
    CHECK(old->text == "1Gbit");
    CHECK(set.all().size() == 4);
    const auto e = effective_allocation(Allocation{}, set.all(), "ndt", now);
    CHECK(e.allocation.bandwidth_bits == 2'500'000'000ULL);
  }
  SECTION("clear one resource, then all of an experiment") {
    auto removed = set.clear("ndt", Resource::kCpu);
    REQUIRE(removed.size() == 1);
    CHECK(removed[0].resource == Resource::kCpu);
    CHECK(set.clear("ndt", Resource::kCpu).empty());
    CHECK(set.clear("msak", std::nullopt).empty());
    removed = set.clear("ndt", std::nullopt);
    CHECK(removed.size() == 2);
    REQUIRE(set.all().size() == 1);
    CHECK(set.all()[0].experiment == "wehe");
  }
  SECTION("expire removes those at or before now; next_expiry is the earliest") {
    CHECK(set.next_expiry() == now + 5s);
    CHECK(set.expire(now + 4s).empty());
    auto gone = set.expire(now + 5s);
    REQUIRE(gone.size() == 1);
    CHECK(gone[0].experiment == "wehe");
    CHECK(set.next_expiry() == now + 10s);
    gone = set.expire(now + 1h);
    CHECK(gone.size() == 2);
    REQUIRE(set.all().size() == 1);  // the one without expiry stays
    CHECK(set.all()[0].resource == Resource::kBandwidth);
    CHECK_FALSE(set.next_expiry());
  }
}

TEST_CASE("overrides serialize and parse back unchanged", "[overrides]") {
  std::vector<Override> in = {
      make("ndt", Resource::kBandwidth, "2.5Gbit", at(1'795'000'000)),
      make("ndt", Resource::kMinRate, "1%"),
      make("wehe", Resource::kThrottle, "10Mbit"),
      make("msak", Resource::kCpu, "0.5"),
      make("msak", Resource::kDiskIo, "12.5%"),
  };
  in[2].reason = "abuse report \"42\" — ünïcode\n";
  in[2].set_by_uid = 4294967295u;
  const std::string text = serialize_overrides(in);
  CHECK_THAT(text, Contains("\"version\": 1"));
  auto out = parse_overrides(text);
  REQUIRE(out.ok());
  REQUIRE(out->size() == in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    INFO(i);
    const Override& a = in[i];
    const Override& b = (*out)[i];
    CHECK(a.experiment == b.experiment);
    CHECK(a.resource == b.resource);
    CHECK(a.text == b.text);
    CHECK(a.expires == b.expires);
    CHECK(a.reason == b.reason);
    CHECK(a.set_at == b.set_at);
    CHECK(a.set_by_uid == b.set_by_uid);
    CHECK(format_override_value(b.resource, b.value) == a.text);
  }
  CHECK(serialize_overrides(*out) == text);

  const auto j = override_to_json(in[0]);
  CHECK(j["experiment"] == "ndt");
  CHECK(j["resource"] == "bandwidth");
  CHECK(j["value"] == "2.5Gbit");
  CHECK(j["expires"] == 1'795'000'000);
  CHECK(j["set_at"] == 1'794'900'000);
  CHECK(j["set_by_uid"] == 0);
  CHECK(override_to_json(in[1])["expires"].is_null());

  // Values are canonicalised when read.
  auto o = override_from_json(
      {{"experiment", "ndt"}, {"resource", "bandwidth"}, {"value", "2500Mbit"}, {"set_at", 0}});
  REQUIRE(o.ok());
  CHECK(o->text == "2.5Gbit");
  CHECK_FALSE(o->expires);
  CHECK(parse_overrides("{\"version\":1,\"overrides\":[]}")->empty());
}

TEST_CASE("parse_overrides says what is wrong and where", "[overrides]") {
  const std::string good =
      R"({"experiment":"ndt","resource":"bandwidth","value":"1Gbit","expires":null,"reason":"r","set_at":1,"set_by_uid":0})";
  auto file = [](const std::string& list) {
    return "{\"version\":1,\"overrides\":[" + list + "]}";
  };
  struct Case {
    std::string text;
    const char* message;
  };
  const Case cases[] = {
      {"", "not valid JSON"},
      {"{\"version\":1,", "line 1, column"},
      {"[]", "not a JSON object"},
      {"{}", "\"version\" is missing"},
      {"{\"version\":\"1\",\"overrides\":[]}", "\"version\" must be an integer"},
      {"{\"version\":2,\"overrides\":[]}", "unsupported version 2"},
      {"{\"version\":-1,\"overrides\":[]}", "unsupported version -1"},
      {"{\"version\":1}", "\"overrides\" is missing"},
      {"{\"version\":1,\"overrides\":{}}", "\"overrides\" must be an array"},
      {file("1"), "overrides[0]: an override must be a JSON object"},
      {file(good + ",{}"), "overrides[1]: \"experiment\" is missing"},
      {file(good + "," + good), "overrides[1]: a second override of ndt bandwidth"},
      {file(R"({"experiment":"","resource":"cpu","value":"1","set_at":1})"), "must not be empty"},
      {file(R"({"experiment":1,"resource":"cpu","value":"1","set_at":1})"),
       "\"experiment\" must be a string"},
      {file(R"({"experiment":"a","resource":"gpu","value":"1","set_at":1})"),
       "unknown resource \"gpu\""},
      {file(R"({"experiment":"a","resource":"cpu","value":"lots","set_at":1})"),
       "\"value\": cpu \"lots\""},
      {file(R"({"experiment":"a","resource":"cpu","value":"1"})"), "\"set_at\" is missing"},
      {file(R"({"experiment":"a","resource":"cpu","value":"1","set_at":-5})"), "\"set_at\""},
      {file(R"({"experiment":"a","resource":"cpu","value":"1","set_at":1e3})"), "\"set_at\""},
      {file(R"({"experiment":"a","resource":"cpu","value":"1","set_at":1,"expires":"soon"})"),
       "\"expires\""},
      {file(R"({"experiment":"a","resource":"cpu","value":"1","set_at":1,"expires":1e30})"),
       "\"expires\""},
      {file(
           R"({"experiment":"a","resource":"cpu","value":"1","set_at":1,"expires":99999999999999999999})"),
       "\"expires\""},
      {file(R"({"experiment":"a","resource":"cpu","value":"1","set_at":1,"reason":7})"),
       "\"reason\" must be a string"},
      {file(R"({"experiment":"a","resource":"cpu","value":"1","set_at":1,"set_by_uid":-1})"),
       "\"set_by_uid\""},
      {file(
           R"({"experiment":"a","resource":"cpu","value":"1","set_at":1,"set_by_uid":4294967296})"),
       "\"set_by_uid\""},
      {std::string("{\"version\":1,\"overrides\":[\"\xff\"]}"), "not valid JSON"},
      {std::string(100000, '['), "not valid JSON"},
      {R"({"version":1e999})", "number overflow"},
  };
  for (const auto& c : cases) {
    INFO(c.text.substr(0, 200));
    auto r = parse_overrides(c.text);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Contains(c.message));
  }
}
