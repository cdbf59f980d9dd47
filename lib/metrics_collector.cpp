#include "metrics_collector.hpp"

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
      m.gauge.value = static_cast<double>(x->allocation.bandwidth_bytes_per_second());
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
  out.reserve(14);
  for (auto* f :
       {&bytes, &packets, &window_bytes, &window_seconds, &allocation, &throttled, &rate_limit,
        &allowance, &dropped, &dropped_bytes, &throttle_events, &unattributed, &build, &tick}) {
    out.push_back(std::move(*f));
  }
  return out;
}

}  // namespace enforcer
