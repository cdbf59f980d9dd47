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
      allocation.metric.push_back(std::move(m));
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
  out.reserve(9);
  for (auto* f : {&bytes, &packets, &window_bytes, &window_seconds, &allocation, &unattributed,
                  &build, &tick}) {
    out.push_back(std::move(*f));
  }
  return out;
}

}  // namespace enforcer
