// The cgroup v2 interface files that hold an experiment's allocation, and their values: pure
// functions of the Allocation and the resolved [[device]]s. Also the comparison of a value read
// back from the kernel with the wanted one, for drift detection: the kernel normalises what it is
// given (memory sizes to pages, io.max to a fixed key order), so a plain string comparison would
// see drift where there is none.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.hpp"
#include "config/config.hpp"

namespace enforcer {

struct CgroupFileValue {
  std::string file;   // name in the cgroup directory: "cpu.max", "memory.max", "io.max", ...
  std::string value;  // what to write (one line, no newline)

  bool operator==(const CgroupFileValue&) const = default;
};

// cpu.max: "<quota> <period>" in µs with a period of 100 ms (the kernel's default).
inline constexpr std::uint64_t kCpuPeriodUsec = 100'000;
// The smallest quota the kernel accepts (1 ms).
inline constexpr std::uint64_t kCpuMinQuotaUsec = 1'000;
// The smallest io.max value every kernel accepts: from 2019 (4.x) until a 2023 revert, io.max
// rejected 1 as well as 0 with EINVAL.
inline constexpr std::uint64_t kIoMaxMinValue = 2;

// 1.0 -> "100000 100000", 0.5 -> "50000 100000", 0.001 -> "1000 100000" (the kernel's minimum).
std::string cpu_max_value(double cores);

// memory.high is "max" (no throttling threshold below the limit). With memory.high a little
// below memory.max and no swap (memory.swap.max 0), an experiment whose anonymous memory grows
// past high is throttled for ever instead of reaching max and being OOM-killed: measured on the
// vm tier's 6.1 kernel, a 400 MiB `tail` in a cgroup with max 256 MiB and high 240 MiB was still
// alive after 40 s (memory.events high 6,802, oom_kill 0); with high "max" it was OOM-killed
// after 7.6 s. A stuck experiment is worse for operators than a killed one.
inline constexpr const char* kMemoryHigh = "max";

// One io.max line for a resolved device: "MAJ:MIN rbps=N wbps=N riops=N wiops=N", each N the
// fraction of the configured capacity, rounded down, at least kIoMaxMinValue; "max" where the
// capacity is not configured. An error when the device is not resolved (see resolve_devices()).
Expected<std::string> io_max_value(const DeviceConfig& device, double fraction);

// Every file value for an allocation, in the order to write them: cpu.max, memory.max,
// memory.high, memory.swap.max ("0": no swap), then one io.max line per device. memory.high is
// written after memory.max and both are checked as a pair: a high above max is harmless.
// An error when a device is not resolved.
Expected<std::vector<CgroupFileValue>> cgroup_values(const Allocation& allocation,
                                                     const std::vector<DeviceConfig>& devices);

// Whether `read_back`, the whole content of `wanted.file` as read from the kernel, holds
// `wanted.value`:
// - cpu.max: the same quota (or "max") and period;
// - memory.max, memory.high, memory.swap.max: the same number of bytes after rounding the wanted
//   value down to `page_size` (the kernel keeps pages);
// - io.max: the file has a line for the device with the same four values, in any order, a
//   missing key or a missing line standing for "max" (the kernel omits a device without limits);
// - any other file: the same text, surrounding whitespace ignored.
bool cgroup_value_matches(const CgroupFileValue& wanted, std::string_view read_back,
                          std::uint64_t page_size = 4096);

}  // namespace enforcer
