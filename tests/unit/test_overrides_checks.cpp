// Overrides checked against the allocation and the node: when set, again when the configuration
// changes, and the rejected ones kept beside the file.
#include <catch2/catch.hpp>

#include <chrono>
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
