#include "control/control_status.hpp"

#include <atomic>

namespace enforcer {

namespace {

using nlohmann::json;
constexpr auto kRelaxed = std::memory_order_relaxed;

json direction_status(const DirectionState& s, std::chrono::nanoseconds window,
                      std::chrono::nanoseconds tick) {
  const WindowRing::Snapshot w = s.window.snapshot();
  const double window_s = std::chrono::duration<double>(window).count();
  const double tick_s = std::chrono::duration<double>(tick).count();
  json d;
  // The policy's measure: the bytes in the window over the whole window W (not yet covered
  // ticks count as zero), so it can be compared with the allocation directly.
  d["window_average_bits"] =
      window_s > 0 ? static_cast<std::uint64_t>(static_cast<double>(w.sum) * 8 / window_s) : 0;
  d["rate_bits"] =
      tick_s > 0 ? static_cast<std::uint64_t>(static_cast<double>(w.newest) * 8 / tick_s) : 0;
  const bool throttled = s.throttled.load(kRelaxed);
  d["limit_bits"] = throttled ? s.limit_bytes_per_second.load(kRelaxed) * 8 : 0;
  d["throttled"] = throttled;
  d["allowance_bytes"] = s.allowance_bytes.load(kRelaxed);
  d["bytes_total"] = s.bytes_total.load(kRelaxed);
  d["dropped_packets_total"] = s.dropped_packets_total.load(kRelaxed);
  return d;
}

}  // namespace

json experiment_status(const ExperimentState& x, const EffectiveAllocation& effective,
                       std::chrono::nanoseconds tick, const std::string& pod,
                       const std::vector<Override>& overrides) {
  const Allocation& a = effective.allocation;
  json e;
  e["name"] = x.name;
  e["id"] = x.id;
  e["allocation"] = {{"bandwidth_bits", a.bandwidth_bits},    {"window_ns", a.window.count()},
                     {"min_rate_bits", a.min_rate_bits()},    {"cpu_cores", a.cpu_cores},
                     {"memory_bytes", a.memory_bytes},        {"disk_bytes", a.disk_bytes},
                     {"disk_io_fraction", a.disk_io_fraction}};
  e["pinned_bits"] = effective.pinned_bits;
  // The window the rings really have (an override of W takes effect at the next tick).
  const auto window = tick * x.direction[kEgress].window.slots();
  e["egress"] = direction_status(x.direction[kEgress], window, tick);
  e["ingress"] = direction_status(x.direction[kIngress], window, tick);
  e["pod"] = pod;
  const ResourceState& r = *x.resources;
  if (r.cgroup_known.load(std::memory_order_acquire)) {
    e["cpu"] = {{"usage_cores", static_cast<double>(r.cpu_cores_milli.load(kRelaxed)) / 1000},
                {"usage_seconds_total", static_cast<double>(r.cpu_usage_usec.load(kRelaxed)) / 1e6},
                {"throttled_seconds_total",
                 static_cast<double>(r.cpu_throttled_usec.load(kRelaxed)) / 1e6}};
    e["memory"] = {{"bytes", r.memory_bytes.load(kRelaxed)},
                   {"limit_bytes", r.memory_limit_bytes.load(kRelaxed)},
                   {"oom_kills_total", r.oom_kills.load(kRelaxed)}};
    e["io"] = {{"read_bytes_total", r.io_read_bytes.load(kRelaxed)},
               {"write_bytes_total", r.io_write_bytes.load(kRelaxed)}};
  } else {
    e["cpu"] = nullptr;
    e["memory"] = nullptr;
    e["io"] = nullptr;
  }
  if (r.disk_known.load(std::memory_order_acquire)) {
    e["disk"] = {{"used_bytes", r.disk_used_bytes.load(kRelaxed)},
                 {"limit_bytes", r.disk_limit_bytes.load(kRelaxed)}};
  } else {
    e["disk"] = nullptr;
  }
  json list = json::array();
  for (const Override& o : overrides) {
    if (o.experiment == x.name) list.push_back(override_to_json(o));
  }
  e["overrides"] = std::move(list);
  return e;
}

}  // namespace enforcer
