#include "metrics/metrics_collector.hpp"

#include <limits>

namespace enforcer {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(std::string name, std::string help, MetricType type, std::size_t reserve) {
  MetricFamily f{std::move(name), std::move(help), type, {}};
  f.metric.reserve(reserve);
  return f;
}

ClientMetric of(const std::string& experiment, double value, bool counter) {
  ClientMetric m;
  m.label = {{"experiment", experiment}};
  (counter ? m.counter.value : m.gauge.value) = value;
  return m;
}

double relaxed(const std::atomic<std::uint64_t>& v) {
  return static_cast<double>(v.load(std::memory_order_relaxed));
}

ClientMetric labelled(const std::string& experiment, Direction d) {
  ClientMetric m;
  m.label = {{"direction", direction_name(d)}, {"experiment", experiment}};
  return m;
}

}  // namespace

std::vector<MetricFamily> MetricsCollector::Collect() const {
  const auto experiments = table_.snapshot();
  const std::size_t n = experiments->size() * 2;

  auto bytes =
      family("enforcer_experiment_bytes_total",
             "Bytes an experiment moved through the uplink, by direction.", MetricType::Counter, n);
  auto packets = family("enforcer_experiment_packets_total",
                        "Packets an experiment moved through the uplink, by direction.",
                        MetricType::Counter, n);
  auto window_bytes =
      family("enforcer_experiment_window_bytes",
             "Bytes in the experiment's current sliding window.", MetricType::Gauge, n);
  auto window_seconds = family(
      "enforcer_experiment_window_seconds",
      "How much of the sliding window is covered by samples yet (reaches the window length).",
      MetricType::Gauge, n);
  auto allocation = family("enforcer_experiment_allocation_bytes_per_second",
                           "The experiment's bandwidth allocation, averaged over its window.",
                           MetricType::Gauge, n);
  auto throttled = family("enforcer_experiment_throttled",
                          "1 while the experiment's rate limit is below the link rate (its window "
                          "budget is spent), else 0.",
                          MetricType::Gauge, n);
  auto rate_limit = family("enforcer_experiment_rate_limit_bytes_per_second",
                           "The rate the datapath holds the experiment to while throttled; 0 when "
                           "unthrottled.",
                           MetricType::Gauge, n);
  auto allowance = family("enforcer_experiment_allowance_bytes",
                          "Bytes the experiment may still move in the next tick (budget minus the "
                          "window's other ticks).",
                          MetricType::Gauge, n);
  auto dropped = family("enforcer_experiment_dropped_packets_total",
                        "Packets the rate limit dropped.", MetricType::Counter, n);
  auto dropped_bytes = family("enforcer_experiment_dropped_bytes_total",
                              "Bytes the rate limit dropped.", MetricType::Counter, n);
  auto throttle_events =
      family("enforcer_experiment_throttle_events_total",
             "Times the experiment went from unthrottled to throttled.", MetricType::Counter, n);

  for (const auto& x : *experiments) {
    for (Direction d : kDirections) {
      const DirectionState& s = *x->direction[d];
      const WindowRing::Snapshot w = s.window.snapshot();

      ClientMetric m = labelled(x->name, d);
      m.counter.value = static_cast<double>(s.bytes_total.load(std::memory_order_relaxed));
      bytes.metric.push_back(m);
      m.counter.value = static_cast<double>(s.packets_total.load(std::memory_order_relaxed));
      packets.metric.push_back(m);
      m.counter = {};
      m.gauge.value = static_cast<double>(w.sum);
      window_bytes.metric.push_back(m);
      m.gauge.value = static_cast<double>(w.filled) * tick_seconds_;
      window_seconds.metric.push_back(m);
      const std::uint64_t bandwidth_override =
          x->overrides.bandwidth_bits.load(std::memory_order_relaxed);
      m.gauge.value = static_cast<double>(
          (bandwidth_override ? bandwidth_override : x->allocation.bandwidth_bits) / 8);
      allocation.metric.push_back(m);
      const bool is_throttled = s.throttled.load(std::memory_order_relaxed);
      m.gauge.value = is_throttled ? 1 : 0;
      throttled.metric.push_back(m);
      m.gauge.value =
          is_throttled
              ? static_cast<double>(s.limit_bytes_per_second.load(std::memory_order_relaxed))
              : 0;
      rate_limit.metric.push_back(m);
      m.gauge.value = static_cast<double>(s.allowance_bytes.load(std::memory_order_relaxed));
      allowance.metric.push_back(m);
      m.gauge = {};
      m.counter.value =
          static_cast<double>(s.dropped_packets_total.load(std::memory_order_relaxed));
      dropped.metric.push_back(m);
      m.counter.value = static_cast<double>(s.dropped_bytes_total.load(std::memory_order_relaxed));
      dropped_bytes.metric.push_back(m);
      m.counter.value = static_cast<double>(s.throttle_events.load(std::memory_order_relaxed));
      throttle_events.metric.push_back(std::move(m));
    }
  }

  auto unattributed =
      family("enforcer_unattributed_bytes_total",
             "Bytes through the uplink that belong to no experiment.", MetricType::Counter, 2);
  for (Direction d : kDirections) {
    ClientMetric m;
    m.label = {{"direction", direction_name(d)}};
    m.counter.value = static_cast<double>(unattributed_.bytes[d].load(std::memory_order_relaxed));
    unattributed.metric.push_back(std::move(m));
  }

  auto build = family("enforcer_build_info", "The running enforcerd's version; always 1.",
                      MetricType::Gauge, 1);
  ClientMetric info;
  info.label = {{"version", version_}};
  info.gauge.value = 1;
  build.metric.push_back(std::move(info));

  auto tick = family("enforcer_tick_duration_seconds",
                     "Time the daemon spent in one tick (sampling counters, updating windows).",
                     MetricType::Histogram, 1);
  const TickStats::Snapshot t = ticks_.snapshot();
  ClientMetric h;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < t.buckets.size(); ++i) {
    cumulative += t.buckets[i];
    const double bound = i < TickStats::kBounds.size() ? TickStats::kBounds[i]
                                                       : std::numeric_limits<double>::infinity();
    h.histogram.bucket.push_back({cumulative, bound});
  }
  h.histogram.sample_count = cumulative;
  h.histogram.sample_sum = t.sum_seconds;
  tick.metric.push_back(std::move(h));

  std::vector<MetricFamily> out;
  out.reserve(25);
  for (auto* f :
       {&bytes, &packets, &window_bytes, &window_seconds, &allocation, &throttled, &rate_limit,
        &allowance, &dropped, &dropped_bytes, &throttle_events, &unattributed, &build, &tick}) {
    out.push_back(std::move(*f));
  }
  if (cgroups_) collect_resources(*experiments, out);
  if (status_) {
    // Named as Prometheus names its own (prometheus_config_last_reload_successful), so that the
    // same alerting habits apply.
    auto ok = family("enforcer_config_last_reload_successful",
                     "1 if the last configuration reload (SIGHUP, enforcerctl reload) succeeded; "
                     "0 while a rejected one is pending and the previous one is enforced.",
                     MetricType::Gauge, 1);
    ClientMetric m;
    m.gauge.value = status_->last_reload_ok.load(std::memory_order_relaxed) ? 1 : 0;
    ok.metric.push_back(std::move(m));
    auto when = family("enforcer_config_last_reload_success_timestamp_seconds",
                       "When the configuration last took effect (start or reload), Unix seconds.",
                       MetricType::Gauge, 1);
    ClientMetric t2;
    t2.gauge.value =
        static_cast<double>(status_->last_reload_success_unix.load(std::memory_order_relaxed));
    when.metric.push_back(std::move(t2));
    out.push_back(std::move(ok));
    out.push_back(std::move(when));
  }
  return out;
}

void MetricsCollector::collect_resources(const ExperimentList& experiments,
                                         std::vector<MetricFamily>& out) const {
  const std::size_t n = experiments.size();
  auto containers =
      family("enforcer_experiment_containers",
             "Pod cgroups discovered for the experiment (its limits are applied there).",
             MetricType::Gauge, n);
  auto conflicts =
      family("enforcer_experiment_pod_conflicts",
             "Pod cgroups that match the experiment but do not get its limits (another "
             "pod has them, or another experiment claims the pod).",
             MetricType::Gauge, n);
  auto cpu = family("enforcer_experiment_cpu_usage_seconds_total",
                    "CPU time the experiment's cgroup used (cpu.stat usage_usec).",
                    MetricType::Counter, n);
  auto cpu_throttled =
      family("enforcer_experiment_cpu_throttled_seconds_total",
             "Time the experiment's cgroup was held back by its CPU limit (cpu.stat "
             "throttled_usec).",
             MetricType::Counter, n);
  auto memory =
      family("enforcer_experiment_memory_bytes",
             "Memory the experiment's cgroup uses (memory.current).", MetricType::Gauge, n);
  auto memory_limit = family("enforcer_experiment_memory_limit_bytes",
                             "The experiment's memory limit (memory.max).", MetricType::Gauge, n);
  auto oom = family("enforcer_experiment_oom_kills_total",
                    "Processes of the experiment the kernel killed at its memory limit "
                    "(memory.events oom_kill).",
                    MetricType::Counter, n);
  auto io = family("enforcer_experiment_io_bytes_total",
                   "Bytes the experiment's cgroup read and wrote on block devices (io.stat).",
                   MetricType::Counter, 2 * n);
  auto disk_used = family("enforcer_experiment_disk_used_bytes",
                          "Bytes the experiment's data directory holds (its project quota usage).",
                          MetricType::Gauge, n);
  auto disk_limit =
      family("enforcer_experiment_disk_limit_bytes",
             "The experiment's disk quota (project quota hard limit).", MetricType::Gauge, n);
  for (const auto& x : experiments) {
    const ResourceState& r = *x->resources;
    containers.metric.push_back(
        of(x->name, r.containers.load(std::memory_order_relaxed), /*counter=*/false));
    conflicts.metric.push_back(
        of(x->name, r.pod_conflicts.load(std::memory_order_relaxed), /*counter=*/false));
    if (r.cgroup_known.load(std::memory_order_acquire)) {
      cpu.metric.push_back(of(x->name, relaxed(r.cpu_usage_usec) / 1e6, true));
      cpu_throttled.metric.push_back(of(x->name, relaxed(r.cpu_throttled_usec) / 1e6, true));
      memory.metric.push_back(of(x->name, relaxed(r.memory_bytes), false));
      memory_limit.metric.push_back(of(x->name, relaxed(r.memory_limit_bytes), false));
      oom.metric.push_back(of(x->name, relaxed(r.oom_kills), true));
      for (auto [op, value] :
           {std::pair{"read", &r.io_read_bytes}, std::pair{"write", &r.io_write_bytes}}) {
        ClientMetric m = of(x->name, relaxed(*value), true);
        m.label.push_back({"op", op});
        io.metric.push_back(std::move(m));
      }
    }
    if (r.disk_known.load(std::memory_order_acquire)) {
      disk_used.metric.push_back(of(x->name, relaxed(r.disk_used_bytes), false));
      disk_limit.metric.push_back(of(x->name, relaxed(r.disk_limit_bytes), false));
    }
  }
  auto drift = family("enforcer_cgroup_drift_corrections_total",
                      "Cgroup limit files found changed by someone else and restored.",
                      MetricType::Counter, 1);
  ClientMetric d;
  d.counter.value = relaxed(cgroups_->drift_corrections);
  drift.metric.push_back(std::move(d));
  for (auto* f : {&containers, &conflicts, &cpu, &cpu_throttled, &memory, &memory_limit, &oom, &io,
                  &disk_used, &disk_limit, &drift}) {
    out.push_back(std::move(*f));
  }
}

}  // namespace enforcer
