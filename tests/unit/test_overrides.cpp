// Operators' overrides (lib/control/overrides.hpp): value parsing per resource, how they combine
// with the configured allocation, the checks against the node, the set, the JSON form, the atomic
// file write and the loading of a file that may be missing, torn or corrupt.
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "control/overrides.hpp"
#include "temp_dir.hpp"

using namespace enforcer;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

using enforcer::test::put;
using enforcer::test::TempDir;

namespace {

std::string get(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

WallClock::time_point at(std::int64_t unix_seconds) {
  return WallClock::time_point(std::chrono::seconds(unix_seconds));
}

Override make(std::string experiment, Resource r, std::string text,
              std::optional<WallClock::time_point> expires = std::nullopt) {
  Override o;
  o.experiment = std::move(experiment);
  o.resource = r;
  auto v = parse_override_value(r, text);
  REQUIRE(v.ok());
  o.value = *v;
  o.text = format_override_value(r, *v);
  o.expires = expires;
  o.reason = "ticket 42";
  o.set_at = at(1'794'900'000);
  o.set_by_uid = 0;
  return o;
}

struct GoodValue {
  Resource resource;
  const char* text;
  const char* canonical;
};

}  // namespace

TEST_CASE("resource names round trip, throttle is not an override resource", "[overrides]") {
  for (Resource r : {Resource::kBandwidth, Resource::kWindow, Resource::kMinRate, Resource::kCpu,
                     Resource::kMemory, Resource::kDiskIo, Resource::kDisk, Resource::kThrottle}) {
    INFO(to_string(r));
    REQUIRE(parse_resource(to_string(r)) == r);
  }
  CHECK_FALSE(parse_resource("Bandwidth"));
  CHECK_FALSE(parse_resource(""));
  CHECK(override_resource_names() == "bandwidth, window, min_rate, cpu, memory, disk_io, disk");
}

TEST_CASE("parse_override_value reads each resource in the config's units", "[overrides]") {
  const GoodValue cases[] = {
      {Resource::kBandwidth, "2.5Gbit", "2.5Gbit"},
      {Resource::kBandwidth, "2500Mbit", "2.5Gbit"},
      {Resource::kBandwidth, "100mbit", "100Mbit"},
      {Resource::kThrottle, "10Mbit", "10Mbit"},
      {Resource::kThrottle, "8bit", "8bit"},
      {Resource::kWindow, "30s", "30s"},
      {Resource::kWindow, "300s", "5m"},
      {Resource::kMinRate, "1%", "1%"},
      {Resource::kMinRate, "0.5%", "0.5%"},
      {Resource::kMinRate, "800Kbit", "800Kbit"},
      {Resource::kMinRate, "0bit", "0bit"},
      {Resource::kCpu, "0.5", "0.5"},
      {Resource::kCpu, "2", "2"},
      {Resource::kCpu, "2.000", "2"},
      {Resource::kCpu, "0.125", "0.125"},
      {Resource::kCpu, "1024", "1024"},
      {Resource::kMemory, "512MiB", "512MiB"},
      {Resource::kMemory, "1073741824", "1GiB"},
      {Resource::kDisk, "20GB", "20GB"},
      {Resource::kDiskIo, "5%", "5%"},
      {Resource::kDiskIo, "100%", "100%"},
  };
  for (const auto& c : cases) {
    INFO(to_string(c.resource) << " " << c.text);
    auto v = parse_override_value(c.resource, c.text);
    REQUIRE(v.ok());
    CHECK(format_override_value(c.resource, *v) == c.canonical);
    // The canonical text reads back as the same value.
    auto back = parse_override_value(c.resource, c.canonical);
    REQUIRE(back.ok());
    CHECK(format_override_value(c.resource, *back) == c.canonical);
  }
  CHECK(parse_override_value(Resource::kBandwidth, "2.5Gbit")->bits == 2'500'000'000ULL);
  CHECK(parse_override_value(Resource::kWindow, "30s")->duration == 30s);
  CHECK(parse_override_value(Resource::kCpu, "0.5")->number == 0.5);
  CHECK(parse_override_value(Resource::kMemory, "512MiB")->bytes == 512ULL << 20);
  CHECK(parse_override_value(Resource::kDiskIo, "5%")->number == Approx(0.05));
  const auto pct = parse_override_value(Resource::kMinRate, "2%");
  REQUIRE(pct.ok());
  CHECK(pct->min_rate.is_fraction);
  CHECK(pct->min_rate.fraction == Approx(0.02));
  const auto abs = parse_override_value(Resource::kMinRate, "800Kbit");
  REQUIRE(abs.ok());
  CHECK_FALSE(abs->min_rate.is_fraction);
  CHECK(abs->min_rate.bits_per_second == 800'000);
}

TEST_CASE("parse_override_value rejects bad values and names resource and text", "[overrides]") {
  const std::pair<Resource, const char*> cases[] = {
      {Resource::kBandwidth, ""},
      {Resource::kBandwidth, "fast"},
      {Resource::kBandwidth, "100"},
      {Resource::kBandwidth, "100MB"},
      {Resource::kBandwidth, "0bit"},
      {Resource::kBandwidth, "-1Mbit"},
      {Resource::kBandwidth, "4bit"},
      {Resource::kThrottle, "0bit"},
      {Resource::kThrottle, "10"},
      {Resource::kWindow, "0s"},
      {Resource::kWindow, "30"},
      {Resource::kWindow, "1d"},
      {Resource::kMinRate, "1"},
      {Resource::kMinRate, "101%"},
      {Resource::kMinRate, "x%"},
      {Resource::kCpu, "0"},
      {Resource::kCpu, "-1"},
      {Resource::kCpu, "1025"},
      {Resource::kCpu, "1e3"},
      {Resource::kCpu, "nan"},
      {Resource::kCpu, "inf"},
      {Resource::kCpu, "1.2.3"},
      {Resource::kCpu, "."},
      {Resource::kCpu, "2 cores"},
      {Resource::kCpu, ""},
      {Resource::kMemory, "0"},
      {Resource::kMemory, "1GB/s"},
      {Resource::kMemory, "lots"},
      {Resource::kDisk, "0GB"},
      {Resource::kDiskIo, "0%"},
      {Resource::kDiskIo, "0.1"},
      {Resource::kDiskIo, "150%"},
      {Resource::kMemory, "99999999TiB"},
      {Resource::kBandwidth, "1e30Gbit"},
      // Below the smallest percentage the units accept.
      {Resource::kMinRate, "0.0000001%"},
      {Resource::kDiskIo, "0.00000001%"},
  };
  for (const auto& [r, text] : cases) {
    INFO(to_string(r) << " \"" << text << "\"");
    auto v = parse_override_value(r, text);
    REQUIRE_FALSE(v.ok());
    CHECK_THAT(v.error().message, Contains(std::string(to_string(r))));
    CHECK_THAT(v.error().message, Contains(std::string("\"") + text + "\""));
  }
  // The expected form is part of the message.
  CHECK_THAT(parse_override_value(Resource::kCpu, "x").error().message, Contains("cores"));
  CHECK_THAT(parse_override_value(Resource::kMinRate, "x").error().message, Contains("percentage"));
  // Small percentages are written without an exponent, so they are kept.
  CHECK(parse_override_value(Resource::kMinRate, "0.00001%").ok());
}

TEST_CASE("effective_allocation applies the experiment's live overrides", "[overrides]") {
  Allocation configured;  // M-Lab's defaults
  const auto now = at(1'795'000'000);
  const std::vector<Override> overrides = {
      make("ndt", Resource::kBandwidth, "2.5Gbit"),
      make("ndt", Resource::kWindow, "60s", now + 1s),
      make("ndt", Resource::kMinRate, "5Mbit"),
      make("ndt", Resource::kCpu, "2"),
      make("ndt", Resource::kMemory, "4GiB", now),  // expires now: ignored
      make("ndt", Resource::kDiskIo, "20%", now - 1h),
      make("ndt", Resource::kDisk, "100GB"),
      make("ndt", Resource::kThrottle, "10Mbit"),
      make("wehe", Resource::kBandwidth, "1Gbit"),
  };
  const auto e = effective_allocation(configured, overrides, "ndt", now);
  CHECK(e.allocation.bandwidth_bits == 2'500'000'000ULL);
  CHECK(e.allocation.window == 60s);
  CHECK_FALSE(e.allocation.min_rate.is_fraction);
  CHECK(e.allocation.min_rate_bits() == 5'000'000);
  CHECK(e.allocation.cpu_cores == 2.0);
  CHECK(e.allocation.memory_bytes == configured.memory_bytes);
  CHECK(e.allocation.disk_io_fraction == configured.disk_io_fraction);
  CHECK(e.allocation.disk_bytes == 100'000'000'000ULL);
  CHECK(e.pinned_bits == 10'000'000);

  // One second later the window override has expired too.
  const auto later = effective_allocation(configured, overrides, "ndt", now + 1s);
  CHECK(later.allocation.window == configured.window);

  // Other experiments see only their own; without overrides, the configured allocation.
  const auto wehe = effective_allocation(configured, overrides, "wehe", now);
  CHECK(wehe.allocation.bandwidth_bits == 1'000'000'000ULL);
  CHECK(wehe.allocation.cpu_cores == configured.cpu_cores);
  CHECK(wehe.pinned_bits == 0);
  const auto msak = effective_allocation(configured, overrides, "msak", now);
  CHECK(msak.allocation.bandwidth_bits == configured.bandwidth_bits);
  CHECK(msak.pinned_bits == 0);
}

TEST_CASE("format_allocation_value shows the current value of each resource", "[overrides]") {
  EffectiveAllocation e;
  CHECK(format_allocation_value(e, Resource::kBandwidth) == "100Mbit");
  CHECK(format_allocation_value(e, Resource::kWindow) == "5m");
  CHECK(format_allocation_value(e, Resource::kMinRate) == "1%");
  CHECK(format_allocation_value(e, Resource::kCpu) == "1");
  CHECK(format_allocation_value(e, Resource::kMemory) == "1GiB");
  CHECK(format_allocation_value(e, Resource::kDisk) == "20GB");
  CHECK(format_allocation_value(e, Resource::kDiskIo) == "10%");
  CHECK(format_allocation_value(e, Resource::kThrottle) == "none");
  e.pinned_bits = 10'000'000;
  CHECK(format_allocation_value(e, Resource::kThrottle) == "10Mbit");
}

TEST_CASE("check_override holds overrides to the allocation and the node", "[overrides]") {
  const std::uint64_t link = 10'000'000'000ULL;
  const auto tick = std::chrono::nanoseconds(1s);
  EffectiveAllocation current;  // 100Mbit, 5m, min_rate 1%

  SECTION("acceptable overrides") {
    for (const auto& o :
         {make("ndt", Resource::kBandwidth, "2.5Gbit"), make("ndt", Resource::kBandwidth, "10Gbit"),
          make("ndt", Resource::kThrottle, "10Mbit"), make("ndt", Resource::kMinRate, "100Mbit"),
          make("ndt", Resource::kMinRate, "100%"), make("ndt", Resource::kWindow, "2s"),
          make("ndt", Resource::kWindow, "24h"), make("ndt", Resource::kCpu, "8"),
          make("ndt", Resource::kMemory, "64GiB"), make("ndt", Resource::kDiskIo, "100%"),
          make("ndt", Resource::kDisk, "1TB")}) {
      INFO(to_string(o.resource) << " " << o.text);
      CHECK(check_override(o, current, link, tick).ok());
    }
  }
  SECTION("min_rate above the bandwidth") {
    auto r = check_override(make("ndt", Resource::kMinRate, "200Mbit"), current, link, tick);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "ndt: min_rate 200Mbit is above its bandwidth 100Mbit");
    // ... against the effective bandwidth, overrides included.
    current.allocation.bandwidth_bits = 1'000'000'000ULL;
    CHECK(check_override(make("ndt", Resource::kMinRate, "200Mbit"), current, link, tick).ok());
  }
  SECTION("min_rate 0 is a hard stop; one that comes to below 8 bit/s is refused") {
    CHECK(check_override(make("ndt", Resource::kMinRate, "0%"), current, link, tick).ok());
    CHECK(check_override(make("ndt", Resource::kMinRate, "0bit"), current, link, tick).ok());
    auto r = check_override(make("ndt", Resource::kMinRate, "5bit"), current, link, tick);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains("must be 0 (a hard stop"));
    r = check_override(make("ndt", Resource::kMinRate, "0.000001%"), current, link, tick);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains("comes to 1 bit/s"));
  }
  SECTION("bandwidth below an absolute min_rate") {
    current.allocation.min_rate = MinRate{false, 0, 50'000'000};
    auto r = check_override(make("ndt", Resource::kBandwidth, "10Mbit"), current, link, tick);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Contains("ndt: bandwidth 10Mbit"));
    CHECK_THAT(r.error().message, Contains("min_rate 50Mbit"));
  }
  SECTION("bandwidth and throttle above the link rate") {
    auto r = check_override(make("ndt", Resource::kBandwidth, "20Gbit"), current, link, tick);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "ndt: bandwidth 20Gbit is above the link rate 10Gbit");
    r = check_override(make("wehe", Resource::kThrottle, "11Gbit"), current, link, tick);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "wehe: throttle 11Gbit is above the link rate 10Gbit");
  }
  SECTION("window in whole ticks, at least two") {
    for (const char* w : {"1500ms", "1s", "500ms", "25h"}) {
      INFO(w);
      auto r = check_override(make("ndt", Resource::kWindow, w), current, link, tick);
      REQUIRE_FALSE(r.ok());
      CHECK_THAT(r.error().message, Contains(std::string("ndt: window ") + w));
    }
    CHECK_THAT(check_override(make("ndt", Resource::kWindow, "1500ms"), current, link, tick)
                   .error()
                   .message,
               Contains("whole number of ticks"));
    CHECK_THAT(
        check_override(make("ndt", Resource::kWindow, "1s"), current, link, tick).error().message,
        Contains("two ticks"));
    CHECK(check_override(make("ndt", Resource::kWindow, "1s"), current, link, 500ms).ok());
  }
}

TEST_CASE("stored overrides are checked again against the configuration in effect", "[overrides]") {
  Config config;
  config.daemon.tick = 1s;
  config.network.link_rate_bits = 10'000'000'000ULL;
  ExperimentConfig ndt;
  ndt.name = "ndt";  // 100Mbit, 5m, min_rate 1%
  config.experiments.push_back(ndt);
  const auto now = at(1'794'900'100);
  auto set_at = [](Override o, std::int64_t t) {
    o.set_at = at(t);
    return o;
  };

  SECTION("what the configuration accepts is kept, in the order it was set") {
    const std::vector<Override> stored = {
        set_at(make("ndt", Resource::kMinRate, "50Mbit"), 2),
        set_at(make("ndt", Resource::kBandwidth, "60Mbit"), 1),
        make("gone", Resource::kWindow, "7s"),  // not configured: kept unchecked
    };
    const CheckedOverrides c = check_stored_overrides(stored, config, now);
    CHECK(c.rejected.empty());
    REQUIRE(c.kept.size() == 3);
    CHECK(c.kept[0].resource == Resource::kBandwidth);
  }
  SECTION("a window a new tick cannot hold: more than 86400 slots, or not whole ticks") {
    config.daemon.tick = 1ms;
    const std::vector<Override> stored = {make("ndt", Resource::kWindow, "24h"),
                                          make("ndt", Resource::kCpu, "2")};
    const CheckedOverrides c = check_stored_overrides(stored, config, now);
    REQUIRE(c.rejected.size() == 1);
    CHECK(c.rejected[0].override_.resource == Resource::kWindow);
    CHECK_THAT(c.rejected[0].problem, Contains("more than 86400 ticks"));
    REQUIRE(c.kept.size() == 1);
    CHECK(c.kept[0].resource == Resource::kCpu);
    config.daemon.tick = 7s;
    const CheckedOverrides d =
        check_stored_overrides({make("ndt", Resource::kWindow, "30s")}, config, now);
    REQUIRE(d.rejected.size() == 1);
    CHECK_THAT(d.rejected[0].problem, Contains("not a whole number of ticks"));
  }
  SECTION("a link rate lowered below a stored bandwidth") {
    config.network.link_rate_bits = 1'000'000'000ULL;
    const CheckedOverrides c =
        check_stored_overrides({make("ndt", Resource::kBandwidth, "2.5Gbit")}, config, now);
    REQUIRE(c.rejected.size() == 1);
    CHECK_THAT(c.rejected[0].problem, Contains("above the link rate"));
  }
  SECTION("the later of two overrides that do not fit together is the one rejected") {
    const std::vector<Override> stored = {
        set_at(make("ndt", Resource::kBandwidth, "20Mbit"), 2),
        set_at(make("ndt", Resource::kMinRate, "50Mbit"), 1),
    };
    const CheckedOverrides c = check_stored_overrides(stored, config, now);
    REQUIRE(c.rejected.size() == 1);
    CHECK(c.rejected[0].override_.resource == Resource::kBandwidth);
    CHECK_THAT(c.rejected[0].problem, Contains("below its min_rate"));
  }
}

TEST_CASE("rejected overrides are kept beside the file, not dropped", "[overrides]") {
  TempDir dir("enforcer-rejected");
  const std::string path = (dir.path / "overrides.json").string();
  const std::vector<Override> rejected = {make("ndt", Resource::kWindow, "24h")};
  auto first = keep_rejected_overrides(path, rejected, at(1'794'900'000));
  REQUIRE(first.ok());
  CHECK(*first == path + ".rejected-1794900000");
  auto back = parse_overrides(get(*first));
  REQUIRE(back.ok());
  REQUIRE(back->size() == 1);
  CHECK(back->front().text == "24h");
  auto second = keep_rejected_overrides(path, rejected, at(1'794'900'000));
  REQUIRE(second.ok());
  CHECK(*second == path + ".rejected-1794900000-1");
}

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
