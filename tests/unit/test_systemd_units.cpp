// Limits through systemd for pods that are systemd units (issue 21, item 3): which cgroups are
// units, and the unit properties that make systemd write exactly the cgroup values of an
// allocation.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "config/config.hpp"
#include "pods/cgroup_values.hpp"
#include "pods/systemd_units.hpp"

using namespace enforcer;

namespace {

constexpr std::uint64_t kInf = kSystemdInfinity;

SystemdProperty number(const char* name, std::uint64_t v) {
  return {name, v};
}
SystemdProperty devices(const char* name, SystemdProperty::DeviceLimits limits) {
  return {name, std::move(limits)};
}

}  // namespace

TEST_CASE("systemd_unit_of: the last component when it is a slice or a scope") {
  const std::string pod =
      "/sys/fs/cgroup/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podab_cd.slice";
  CHECK(systemd_unit_of(pod) == "kubepods-besteffort-podab_cd.slice");
  CHECK(systemd_unit_of(pod + "/") == "kubepods-besteffort-podab_cd.slice");
  CHECK(systemd_unit_of(pod + "/cri-containerd-0123.scope") == "cri-containerd-0123.scope");
  CHECK(systemd_unit_of("kubepods.slice") == "kubepods.slice");
  // cgroupfs driver paths, and names that only look alike.
  CHECK(systemd_unit_of("/sys/fs/cgroup/kubepods/besteffort/pod1234") == "");
  CHECK(systemd_unit_of("/sys/fs/cgroup/kubepods.slice/.slice") == "");
  CHECK(systemd_unit_of("/sys/fs/cgroup/a.slice/b.service") == "");
  CHECK(systemd_unit_of("/sys/fs/cgroup/a.slice/b.slicex") == "");
  CHECK(systemd_unit_of("") == "");
  CHECK(systemd_unit_of("/") == "");
}

TEST_CASE("systemd_control_group: the path below the cgroup2 mount, as systemd names it") {
  CHECK(systemd_control_group("/sys/fs/cgroup", "/sys/fs/cgroup/kubepods.slice/x.slice") ==
        "/kubepods.slice/x.slice");
  CHECK(systemd_control_group("/sys/fs/cgroup/", "/sys/fs/cgroup/kubepods.slice/") ==
        "/kubepods.slice");
  CHECK(systemd_control_group("/sys/fs/cgroup", "/sys/fs/cgroup") == "/");
  CHECK(systemd_control_group("/", "/a.slice") == "/a.slice");
  CHECK(systemd_control_group("/sys/fs/cgroup", "/sys/fs/cgroupx/a.slice") == "");
  CHECK(systemd_control_group("/sys/fs/cgroup", "/tmp/tree/a.slice") == "");
}

TEST_CASE("systemd_properties: an allocation's cgroup values as unit properties") {
  Allocation a;
  a.cpu_cores = 0.5;
  a.memory_bytes = 268435456;
  a.disk_io_fraction = 0.1;
  DeviceConfig d;
  d.path = "/dev/loop0";
  d.major = 7;
  d.minor = 0;
  d.resolved = true;
  d.write_bps = 100'000'000;
  d.read_iops = 1000;
  DeviceConfig e = d;
  e.major = 8;
  e.minor = 16;
  e.read_bps = 400'000'000;
  e.write_bps = 0;
  e.read_iops = 0;
  e.write_iops = 50;
  auto values = cgroup_values(a, {d, e});
  REQUIRE(values);
  auto props = systemd_properties(*values);
  REQUIRE(props);
  const std::vector<SystemdProperty> want{
      number("CPUQuotaPerSecUSec", 500'000),  // cpu.max "50000 100000"
      number("MemoryMax", 268435456),
      number("MemoryHigh", kInf),  // "max"
      number("MemorySwapMax", 0),
      devices("IOReadBandwidthMax", {{"/dev/block/7:0", kInf}, {"/dev/block/8:16", 40'000'000}}),
      devices("IOWriteBandwidthMax", {{"/dev/block/7:0", 10'000'000}, {"/dev/block/8:16", kInf}}),
      devices("IOReadIOPSMax", {{"/dev/block/7:0", 100}, {"/dev/block/8:16", kInf}}),
      devices("IOWriteIOPSMax", {{"/dev/block/7:0", kInf}, {"/dev/block/8:16", 5}}),
  };
  CHECK(*props == want);
}

TEST_CASE("systemd_properties: CPU quotas, periods and single files") {
  auto one = [](const char* file, const char* value) {
    return systemd_properties({CgroupFileValue{file, value}});
  };
  auto p = one("cpu.max", "1000 100000");  // the kernel's smallest quota
  REQUIRE(p);
  CHECK(*p == std::vector<SystemdProperty>{number("CPUQuotaPerSecUSec", 10'000)});
  p = one("cpu.max", "250000 100000");
  REQUIRE(p);
  CHECK(*p == std::vector<SystemdProperty>{number("CPUQuotaPerSecUSec", 2'500'000)});
  p = one("cpu.max", "max 100000");
  REQUIRE(p);
  CHECK(*p == std::vector<SystemdProperty>{number("CPUQuotaPerSecUSec", kInf)});
  p = one("cpu.max", "25000 50000");  // a period other than 100 ms is given too
  REQUIRE(p);
  CHECK(*p == std::vector<SystemdProperty>{number("CPUQuotaPerSecUSec", 500'000),
                                           number("CPUQuotaPeriodUSec", 50'000)});
  p = one("memory.max", "max");
  REQUIRE(p);
  CHECK(*p == std::vector<SystemdProperty>{number("MemoryMax", kInf)});
  // A drift correction of one io.max line: only that device, all four limits.
  p = one("io.max", "7:0 wbps=2");
  REQUIRE(p);
  CHECK(p->size() == 4);
  CHECK((*p)[1] == devices("IOWriteBandwidthMax", {{"/dev/block/7:0", 2}}));
  CHECK((*p)[0] == devices("IOReadBandwidthMax", {{"/dev/block/7:0", kInf}}));

  CHECK_FALSE(one("cpu.max", "garbage 100000"));
  CHECK_FALSE(one("cpu.max", "1000 0"));
  CHECK_FALSE(one("memory.max", "256M"));
  CHECK_FALSE(one("io.max", "7:0 rbps=fast"));
  CHECK_FALSE(one("io.max", "sda rbps=2"));
  auto unknown = one("pids.max", "100");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message.find("pids.max") != std::string::npos);
  auto empty = systemd_properties({});
  REQUIRE(empty);
  CHECK(empty->empty());
}
