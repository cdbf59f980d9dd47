// Operators' overrides (lib/control/overrides.hpp): resource names, parsing and printing each
// resource's value in the config's units, and the allocation the live overrides make.
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

namespace {

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
