// Parsers of the cgroup v2 statistics files the daemon reads for its metrics: cpu.stat,
// memory.events, memory.current and io.stat. Pure functions of the file's text. Keys a later
// kernel adds are ignored; a line that does not have the file's shape, or a known key whose value
// is not a number, is an error that quotes the line.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "base/expected.hpp"

namespace enforcer {

// cpu.stat. usage_usec, user_usec and system_usec are always there; the bandwidth keys only
// where the cpu controller is enabled for the cgroup (`bandwidth_stats` says whether they were).
struct CpuStat {
  std::uint64_t usage_usec = 0;
  std::uint64_t user_usec = 0;
  std::uint64_t system_usec = 0;
  std::uint64_t nr_periods = 0;
  std::uint64_t nr_throttled = 0;
  std::uint64_t throttled_usec = 0;
  bool bandwidth_stats = false;
};
// Requires usage_usec.
Expected<CpuStat> parse_cpu_stat(std::string_view text);

// memory.events (also memory.events.local): how often each boundary was hit.
struct MemoryEvents {
  std::uint64_t low = 0;
  std::uint64_t high = 0;      // allocations throttled above memory.high
  std::uint64_t max = 0;       // allocations that reached memory.max
  std::uint64_t oom = 0;       // reclaim failed at memory.max
  std::uint64_t oom_kill = 0;  // processes killed by the OOM killer
};
// Requires high, max, oom and oom_kill (every kernel since 4.13 writes them); low may be absent.
Expected<MemoryEvents> parse_memory_events(std::string_view text);

// memory.current: one number of bytes.
Expected<std::uint64_t> parse_memory_current(std::string_view text);

// io.stat counters: one device's, or a sum over devices.
struct IoCounters {
  std::uint64_t rbytes = 0;
  std::uint64_t wbytes = 0;
  std::uint64_t rios = 0;
  std::uint64_t wios = 0;
  std::uint64_t dbytes = 0;  // discards
  std::uint64_t dios = 0;

  bool operator==(const IoCounters&) const = default;
};
struct IoStatDevice {
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  IoCounters counters;
};
struct IoStat {
  std::vector<IoStatDevice> devices;  // in the file's order
  IoCounters total;                   // the sum over devices, per op
};
// "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N" per line; an empty file is no I/O.
// Absent counters are 0; keys such as "cost.vrate=100.00" or "use_delay=0" are skipped.
Expected<IoStat> parse_io_stat(std::string_view text);

}  // namespace enforcer
