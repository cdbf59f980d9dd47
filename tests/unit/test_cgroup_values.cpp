// The cgroup v2 file values of an allocation (issue 5, acceptance 6), and the comparison of what
// the kernel reads back with what was written (drift detection).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "config/config.hpp"
#include "pods/cgroup_values.hpp"

using namespace enforcer;

namespace {

DeviceConfig device(std::uint32_t major, std::uint32_t minor, std::uint64_t rbps,
                    std::uint64_t wbps, std::uint64_t riops, std::uint64_t wiops) {
  DeviceConfig d;
  d.path = "/dev/test";
  d.read_bps = rbps;
  d.write_bps = wbps;
  d.read_iops = riops;
  d.write_iops = wiops;
  d.major = major;
  d.minor = minor;
  d.resolved = true;
  return d;
}

std::string io_line(const DeviceConfig& d, double fraction) {
  auto v = io_max_value(d, fraction);
  INFO((v.ok() ? std::string() : v.error().message));
  REQUIRE(v.ok());
  return *v;
}

}  // namespace

TEST_CASE("cpu.max: cores as a quota per 100 ms period", "[cgroup_values]") {
  CHECK(cpu_max_value(1.0) == "100000 100000");
  CHECK(cpu_max_value(0.5) == "50000 100000");
  CHECK(cpu_max_value(2.0) == "200000 100000");
  CHECK(cpu_max_value(3.25) == "325000 100000");
  CHECK(cpu_max_value(0.123456) == "12346 100000");  // rounded to the µs
  // The kernel refuses quotas below 1 ms.
  CHECK(cpu_max_value(0.01) == "1000 100000");
  CHECK(cpu_max_value(0.001) == "1000 100000");
  CHECK(cpu_max_value(0.0001) == "1000 100000");
  CHECK(cpu_max_value(4096) == "409600000 100000");
}

TEST_CASE("memory.high is max: no throttling below the limit", "[cgroup_values]") {
  CHECK(std::string(kMemoryHigh) == "max");
  CHECK(cgroup_value_matches({"memory.high", kMemoryHigh}, "max\n"));
  CHECK_FALSE(cgroup_value_matches({"memory.high", kMemoryHigh}, "251658240\n"));
}

TEST_CASE("io.max: the disk_io fraction of each configured capacity", "[cgroup_values]") {
  const DeviceConfig vda = device(253, 0, 200'000'000, 100'000'000, 4000, 3000);
  CHECK(io_line(vda, 0.10) == "253:0 rbps=20000000 wbps=10000000 riops=400 wiops=300");
  CHECK(io_line(vda, 1.0) == "253:0 rbps=200000000 wbps=100000000 riops=4000 wiops=3000");
  // Rounded down: 12.5 % of 3 iops is 0.375.
  const DeviceConfig odd = device(8, 16, 999, 1001, 30, 31);
  CHECK(io_line(odd, 0.5) == "8:16 rbps=499 wbps=500 riops=15 wiops=15");
  // Products that doubles spell just below an integer are not rounded down past it.
  CHECK(io_line(device(8, 0, 100, 100, 100, 100), 0.29) == "8:0 rbps=29 wbps=29 riops=29 wiops=29");
  CHECK(io_line(device(8, 0, 100, 100, 100, 100), 0.07) == "8:0 rbps=7 wbps=7 riops=7 wiops=7");
  // At least 2: the kernel takes neither 0 nor (until 2023) 1.
  CHECK(io_line(odd, 0.001) == "8:16 rbps=2 wbps=2 riops=2 wiops=2");
  // A capacity that is not configured is not limited.
  CHECK(io_line(device(7, 0, 0, 50'000'000, 0, 0), 0.10) ==
        "7:0 rbps=max wbps=5000000 riops=max wiops=max");
  // iops stay within the kernel's 32 bits.
  CHECK(io_line(device(7, 1, 0, 0, 4294967295ULL, 4294967295ULL), 1.0) ==
        "7:1 rbps=max wbps=max riops=4294967295 wiops=4294967295");
  // An unresolved device is an error naming it.
  DeviceConfig unresolved = vda;
  unresolved.resolved = false;
  unresolved.path = "/dev/vdz";
  const auto e = io_max_value(unresolved, 0.1);
  REQUIRE_FALSE(e.ok());
  CHECK_THAT(e.error().message, Catch::Matchers::Contains("/dev/vdz"));
}

TEST_CASE("cgroup_values lists every file of an allocation", "[cgroup_values]") {
  Allocation a;  // M-Lab's defaults: 1 core, 1 GiB, 10 % disk I/O
  const std::vector<DeviceConfig> devices = {device(253, 0, 200'000'000, 200'000'000, 0, 0),
                                             device(7, 3, 0, 0, 1000, 2000)};
  const auto v = cgroup_values(a, devices);
  REQUIRE(v.ok());
  const std::vector<CgroupFileValue> want = {
      {"cpu.max", "100000 100000"},
      {"memory.max", "1073741824"},
      {"memory.high", "max"},
      {"memory.swap.max", "0"},
      {"io.max", "253:0 rbps=20000000 wbps=20000000 riops=max wiops=max"},
      {"io.max", "7:3 rbps=max wbps=max riops=100 wiops=200"},
  };
  CHECK(*v == want);

  Allocation small;
  small.cpu_cores = 0.5;
  small.memory_bytes = 256ULL << 20;
  small.disk_io_fraction = 0.25;
  const auto s = cgroup_values(small, {device(8, 0, 1000, 0, 0, 0)});
  REQUIRE(s.ok());
  REQUIRE(s->size() == 5);
  CHECK((*s)[0].value == "50000 100000");
  CHECK((*s)[1].value == "268435456");
  CHECK((*s)[2].value == "max");
  CHECK((*s)[4].value == "8:0 rbps=250 wbps=max riops=max wiops=max");

  // No devices: no io.max.
  const auto none = cgroup_values(a, {});
  REQUIRE(none.ok());
  CHECK(none->size() == 4);

  DeviceConfig unresolved = devices[0];
  unresolved.resolved = false;
  CHECK_FALSE(cgroup_values(a, {unresolved}).ok());
}

TEST_CASE("values read back from the kernel match what was written", "[cgroup_values]") {
  SECTION("cpu.max") {
    const CgroupFileValue w{"cpu.max", "100000 100000"};
    CHECK(cgroup_value_matches(w, "100000 100000\n"));
    CHECK(cgroup_value_matches(w, "100000 100000"));
    CHECK_FALSE(cgroup_value_matches(w, "max 100000\n"));  // someone lifted the limit
    CHECK_FALSE(cgroup_value_matches(w, "200000 100000\n"));
    CHECK_FALSE(cgroup_value_matches(w, "100000 50000\n"));  // same share, other period
    CHECK_FALSE(cgroup_value_matches(w, ""));
    CHECK_FALSE(cgroup_value_matches(w, "garbage"));
    CHECK(cgroup_value_matches({"cpu.max", "max 100000"}, "max 100000\n"));
  }
  SECTION("memory sizes are kept in pages") {
    const CgroupFileValue w{"memory.max", "1073741824"};
    CHECK(cgroup_value_matches(w, "1073741824\n"));
    CHECK_FALSE(cgroup_value_matches(w, "max\n"));
    CHECK_FALSE(cgroup_value_matches(w, "1073737728\n"));  // one page less
    // A size that is not a multiple of the page reads back rounded down.
    const CgroupFileValue odd{"memory.max", "1000000000"};
    CHECK(cgroup_value_matches(odd, "999997440\n"));
    CHECK_FALSE(cgroup_value_matches(odd, "1000000000\n"));
    CHECK(cgroup_value_matches({"memory.high", "937500000"}, "937496576\n"));
    // 64 KiB pages.
    CHECK(cgroup_value_matches(odd, "999948288\n", 65536));
    CHECK(cgroup_value_matches({"memory.swap.max", "0"}, "0\n"));
    CHECK_FALSE(cgroup_value_matches({"memory.swap.max", "0"}, "max\n"));
    CHECK_FALSE(cgroup_value_matches(w, "lots\n"));
  }
  SECTION("io.max: any key order, other devices, absent max entries") {
    const CgroupFileValue w{"io.max", "253:0 rbps=20000000 wbps=10000000 riops=max wiops=300"};
    // As current kernels print it.
    CHECK(cgroup_value_matches(w, "253:0 rbps=20000000 wbps=10000000 riops=max wiops=300\n"));
    // Among other devices' lines, keys in another order, "max" entries left out.
    CHECK(cgroup_value_matches(
        w,
        "7:0 rbps=2 wbps=max riops=max wiops=max\n253:0 wiops=300 wbps=10000000 rbps=20000000\n"
        "8:0 riops=5\n"));
    // A key of a later kernel is ignored.
    CHECK(cgroup_value_matches(w,
                               "253:0 rbps=20000000 wbps=10000000 riops=max wiops=300 newkey=1\n"));
    CHECK_FALSE(cgroup_value_matches(w, "253:0 rbps=20000000 wbps=10000000 riops=max wiops=301\n"));
    CHECK_FALSE(cgroup_value_matches(w, "253:0 rbps=20000000 wbps=10000000 riops=5 wiops=300\n"));
    CHECK_FALSE(cgroup_value_matches(w, "253:1 rbps=20000000 wbps=10000000 riops=max wiops=300\n"));
    CHECK_FALSE(cgroup_value_matches(w, ""));  // the limit was removed
    CHECK_FALSE(cgroup_value_matches(w, "253:0 rbps=lots\n"));
    // A line that limits nothing is omitted by the kernel: an empty file matches it.
    const CgroupFileValue unlimited{"io.max", "8:0 rbps=max wbps=max riops=max wiops=max"};
    CHECK(cgroup_value_matches(unlimited, ""));
    CHECK(cgroup_value_matches(unlimited, "7:0 rbps=2\n"));
    CHECK_FALSE(cgroup_value_matches(unlimited, "8:0 rbps=2\n"));
  }
  SECTION("what cgroup_values writes matches its own kernel spelling") {
    const auto values = cgroup_values(Allocation{}, {device(253, 0, 200'000'000, 0, 4000, 0)});
    REQUIRE(values.ok());
    for (const CgroupFileValue& v : *values) {
      INFO(v.file << " = " << v.value);
      CHECK(cgroup_value_matches(v, v.value + "\n"));
    }
  }
  SECTION("other files: the same text") {
    CHECK(cgroup_value_matches({"pids.max", "100"}, "100\n"));
    CHECK_FALSE(cgroup_value_matches({"pids.max", "100"}, "max\n"));
  }
}
