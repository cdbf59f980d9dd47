#include "metrics/metrics_collector.hpp"

#include <iterator>
#include <limits>

namespace enforcer {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

double relaxed(const std::atomic<std::uint64_t>& v) {
  return static_cast<double>(v.load(std::memory_order_relaxed));
}

// One experiment's figures for one direction. They are read together, once per scrape, so that
// families computed from the same value agree: throttled and its rate limit, a window's bytes and
// how much of it is filled.
struct DirectionSample {
  const std::string* experiment{};
  Direction direction{};
  double bytes{};
  double packets{};
  double window_bytes{};
  double window_seconds{};
  double allocation{};
  double throttled{};
  double rate_limit{};
  double allowance{};
  double dropped_packets{};
  double dropped_bytes{};
  double throttle_events{};
};

// One experiment's cgroup and quota figures, read once per scrape for the same reason; the
// `known` flags say whether the daemon has read them yet (families leave the experiment out
// until it has).
struct ResourceSample {
  const std::string* experiment{};
  double containers{};
  double optional{};
  double pod_conflicts{};
  bool cgroup_known{};
  double cpu_seconds{};
  double cpu_throttled_seconds{};
  double memory{};
  double memory_limit{};
  double oom_kills{};
  double io_read{};
  double io_write{};
  bool disk_known{};
  double disk_used{};
  double disk_limit{};
};

DirectionSample sample(const ExperimentState& x, Direction d, double tick_seconds) {
  const DirectionState& s = x.direction[d];
  DirectionSample out;
  out.experiment = &x.name;
  out.direction = d;
  out.bytes = relaxed(s.bytes_total);
  out.packets = relaxed(s.packets_total);
  const WindowRing::Snapshot w = s.window.snapshot();
  out.window_bytes = static_cast<double>(w.sum);
  out.window_seconds = static_cast<double>(w.filled) * tick_seconds;
  out.allocation = static_cast<double>(effective_limits(x).bandwidth_bits / 8);
  const bool is_throttled = s.throttled.load(std::memory_order_relaxed);
  out.throttled = is_throttled ? 1 : 0;
  out.rate_limit = is_throttled ? relaxed(s.limit_bytes_per_second) : 0;
  out.allowance = relaxed(s.allowance_bytes);
  out.dropped_packets = relaxed(s.dropped_packets_total);
  out.dropped_bytes = relaxed(s.dropped_bytes_total);
  out.throttle_events = relaxed(s.throttle_events);
  return out;
}

ResourceSample sample(const ExperimentState& x) {
  const ResourceState& r = *x.resources;
  ResourceSample out;
  out.experiment = &x.name;
  out.containers = r.containers.load(std::memory_order_relaxed);
  out.optional = r.optional.load(std::memory_order_relaxed) ? 1 : 0;
  out.pod_conflicts = r.pod_conflicts.load(std::memory_order_relaxed);
  out.cgroup_known = r.cgroup_known.load(std::memory_order_acquire);
  if (out.cgroup_known) {
    out.cpu_seconds = relaxed(r.cpu_usage_usec) / 1e6;
    out.cpu_throttled_seconds = relaxed(r.cpu_throttled_usec) / 1e6;
    out.memory = relaxed(r.memory_bytes);
    out.memory_limit = relaxed(r.memory_limit_bytes);
    out.oom_kills = relaxed(r.oom_kills);
    out.io_read = relaxed(r.io_read_bytes);
    out.io_write = relaxed(r.io_write_bytes);
  }
  out.disk_known = r.disk_known.load(std::memory_order_acquire);
  if (out.disk_known) {
    out.disk_used = relaxed(r.disk_used_bytes);
    out.disk_limit = relaxed(r.disk_limit_bytes);
  }
  return out;
}

// What the families of one scrape are filled from.
struct Scrape {
  const UnattributedTotals& unattributed;
  const TickStats& ticks;
  const std::string& version;
  const CgroupTotals* cgroups;  // none: the cgroup families are left out
  const DaemonStatus* status;   // none: the config reload families are left out
  std::vector<DirectionSample> directions;
  std::vector<ResourceSample> resources;  // empty without cgroup totals
};

// Which of the collector's optional sources a family needs; without it the family is left out.
enum class Needs { kNothing, kCgroups, kStatus };

struct FamilySpec {
  const char* name;
  const char* help;
  MetricType type;
  Needs needs;
  void (*fill)(const Scrape& scrape, SeriesSink& out);
};

template <double DirectionSample::*field>
void per_direction(const Scrape& scrape, SeriesSink& out) {
  out.reserve(scrape.directions.size());
  for (const DirectionSample& s : scrape.directions) {
    out.series({{"direction", direction_name(s.direction)}, {"experiment", *s.experiment}},
               s.*field);
  }
}

// `known`, when given, is the flag that says whether the experiment's `field` has been read.
template <double ResourceSample::*field, bool ResourceSample::*known = nullptr>
void per_experiment(const Scrape& scrape, SeriesSink& out) {
  out.reserve(scrape.resources.size());
  for (const ResourceSample& r : scrape.resources) {
    if constexpr (known != nullptr) {
      if (!(r.*known)) continue;
    }
    out.series({{"experiment", *r.experiment}}, r.*field);
  }
}

void io_bytes(const Scrape& scrape, SeriesSink& out) {
  out.reserve(2 * scrape.resources.size());
  for (const ResourceSample& r : scrape.resources) {
    if (!r.cgroup_known) continue;
    out.series({{"experiment", *r.experiment}, {"op", "read"}}, r.io_read);
    out.series({{"experiment", *r.experiment}, {"op", "write"}}, r.io_write);
  }
}

void unattributed_bytes(const Scrape& scrape, SeriesSink& out) {
  for (Direction d : kDirections) {
    out.series({{"direction", direction_name(d)}}, relaxed(scrape.unattributed.bytes[d]));
  }
}

void build_info(const Scrape& scrape, SeriesSink& out) {
  out.series({{"version", scrape.version}}, 1);
}

void tick_duration(const Scrape& scrape, SeriesSink& out) {
  const TickStats::Snapshot t = scrape.ticks.snapshot();
  std::vector<ClientMetric::Bucket> buckets;
  buckets.reserve(t.buckets.size());
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < t.buckets.size(); ++i) {
    cumulative += t.buckets[i];
    const double bound = i < TickStats::kBounds.size() ? TickStats::kBounds[i]
                                                       : std::numeric_limits<double>::infinity();
    buckets.push_back({cumulative, bound});
  }
  out.histogram(buckets, cumulative, t.sum_seconds);
}

void drift_corrections(const Scrape& scrape, SeriesSink& out) {
  out.series({}, relaxed(scrape.cgroups->drift_corrections));
}

void last_reload_ok(const Scrape& scrape, SeriesSink& out) {
  out.series({}, scrape.status->last_reload_ok.load(std::memory_order_relaxed) ? 1 : 0);
}

void reloads(const Scrape& scrape, SeriesSink& out) {
  for (const auto& [result, count] : {std::pair{"success", &DaemonStatus::reloads_ok},
                                      std::pair{"failure", &DaemonStatus::reloads_failed}}) {
    out.series({{"result", result}},
               static_cast<double>((scrape.status->*count).load(std::memory_order_relaxed)));
  }
}

void last_reload_time(const Scrape& scrape, SeriesSink& out) {
  out.series({}, static_cast<double>(
                     scrape.status->last_reload_success_unix.load(std::memory_order_relaxed)));
}

void override_info(const Scrape& scrape, SeriesSink& out) {
  for (const OverrideInForce& o : scrape.status->overrides()) {
    out.series({{"experiment", o.experiment}, {"resource", o.resource}, {"source", o.source}}, 1);
  }
}

void override_expiry(const Scrape& scrape, SeriesSink& out) {
  for (const OverrideInForce& o : scrape.status->overrides()) {
    if (o.expires_unix == 0) continue;
    out.series({{"experiment", o.experiment}, {"resource", o.resource}},
               static_cast<double>(o.expires_unix));
  }
}

using D = DirectionSample;
using R = ResourceSample;

// Spelled as a call so that scripts/check-metric-names finds the names and types in this source.
constexpr FamilySpec family(const char* name, const char* help, MetricType type, Needs needs,
                            void (*fill)(const Scrape&, SeriesSink&)) {
  return {name, help, type, needs, fill};
}

// Every family the daemon exposes, in the order a scrape shows them.
const FamilySpec kFamilies[] = {
    family("enforcer_experiment_bytes_total",
           "Bytes an experiment moved through the uplink, by direction.", MetricType::Counter,
           Needs::kNothing, per_direction<&D::bytes>),
    family("enforcer_experiment_packets_total",
           "Packets an experiment moved through the uplink, by direction.", MetricType::Counter,
           Needs::kNothing, per_direction<&D::packets>),
    family("enforcer_experiment_window_bytes", "Bytes in the experiment's current sliding window.",
           MetricType::Gauge, Needs::kNothing, per_direction<&D::window_bytes>),
    family("enforcer_experiment_window_seconds",
           "How much of the sliding window is covered by samples yet (reaches the window length).",
           MetricType::Gauge, Needs::kNothing, per_direction<&D::window_seconds>),
    family("enforcer_experiment_allocation_bytes_per_second",
           "The experiment's bandwidth allocation, averaged over its window.", MetricType::Gauge,
           Needs::kNothing, per_direction<&D::allocation>),
    family(
        "enforcer_experiment_throttled",
        "1 while the experiment's rate limit is below the link rate (its window budget is spent), "
        "else 0.",
        MetricType::Gauge, Needs::kNothing, per_direction<&D::throttled>),
    family("enforcer_experiment_rate_limit_bytes_per_second",
           "The rate the datapath holds the experiment to while throttled; 0 when unthrottled.",
           MetricType::Gauge, Needs::kNothing, per_direction<&D::rate_limit>),
    family("enforcer_experiment_allowance_bytes",
           "Bytes the experiment may still move in the next tick (budget minus the window's other "
           "ticks).",
           MetricType::Gauge, Needs::kNothing, per_direction<&D::allowance>),
    family("enforcer_experiment_dropped_packets_total", "Packets the rate limit dropped.",
           MetricType::Counter, Needs::kNothing, per_direction<&D::dropped_packets>),
    family("enforcer_experiment_dropped_bytes_total", "Bytes the rate limit dropped.",
           MetricType::Counter, Needs::kNothing, per_direction<&D::dropped_bytes>),
    family("enforcer_experiment_throttle_events_total",
           "Times the experiment went from unthrottled to throttled.", MetricType::Counter,
           Needs::kNothing, per_direction<&D::throttle_events>),
    family("enforcer_unattributed_bytes_total",
           "Bytes through the uplink that belong to no experiment.", MetricType::Counter,
           Needs::kNothing, unattributed_bytes),
    family("enforcer_build_info", "The running enforcerd's version; always 1.", MetricType::Gauge,
           Needs::kNothing, build_info),
    family("enforcer_tick_duration_seconds",
           "Time the daemon spent in one tick (sampling counters, updating windows).",
           MetricType::Histogram, Needs::kNothing, tick_duration),
    family("enforcer_experiment_containers",
           "Pod cgroups discovered for the experiment (its limits are applied there).",
           MetricType::Gauge, Needs::kCgroups, per_experiment<&R::containers>),
    family("enforcer_experiment_optional",
           "1 if the experiment is optional (its pod need not run on this machine), else 0.",
           MetricType::Gauge, Needs::kCgroups, per_experiment<&R::optional>),
    family(
        "enforcer_experiment_pod_conflicts",
        "Pod cgroups that match the experiment but do not get its limits (another pod has them, or "
        "another experiment claims the pod).",
        MetricType::Gauge, Needs::kCgroups, per_experiment<&R::pod_conflicts>),
    family("enforcer_experiment_cpu_usage_seconds_total",
           "CPU time the experiment's cgroup used (cpu.stat usage_usec).", MetricType::Counter,
           Needs::kCgroups, per_experiment<&R::cpu_seconds, &R::cgroup_known>),
    family("enforcer_experiment_cpu_throttled_seconds_total",
           "Time the experiment's cgroup was held back by its CPU limit (cpu.stat throttled_usec).",
           MetricType::Counter, Needs::kCgroups,
           per_experiment<&R::cpu_throttled_seconds, &R::cgroup_known>),
    family("enforcer_experiment_memory_bytes",
           "Memory the experiment's cgroup uses (memory.current).", MetricType::Gauge,
           Needs::kCgroups, per_experiment<&R::memory, &R::cgroup_known>),
    family("enforcer_experiment_memory_limit_bytes", "The experiment's memory limit (memory.max).",
           MetricType::Gauge, Needs::kCgroups, per_experiment<&R::memory_limit, &R::cgroup_known>),
    family("enforcer_experiment_oom_kills_total",
           "Processes of the experiment the kernel killed at its memory limit (memory.events "
           "oom_kill).",
           MetricType::Counter, Needs::kCgroups, per_experiment<&R::oom_kills, &R::cgroup_known>),
    family("enforcer_experiment_io_bytes_total",
           "Bytes the experiment's cgroup read and wrote on block devices (io.stat).",
           MetricType::Counter, Needs::kCgroups, io_bytes),
    family("enforcer_experiment_disk_used_bytes",
           "Bytes the experiment's data directory holds (its project quota usage).",
           MetricType::Gauge, Needs::kCgroups, per_experiment<&R::disk_used, &R::disk_known>),
    family("enforcer_experiment_disk_limit_bytes",
           "The experiment's disk quota (project quota hard limit).", MetricType::Gauge,
           Needs::kCgroups, per_experiment<&R::disk_limit, &R::disk_known>),
    family("enforcer_cgroup_drift_corrections_total",
           "Cgroup limit files found changed by someone else and restored.", MetricType::Counter,
           Needs::kCgroups, drift_corrections),
    // Named as Prometheus names its own (prometheus_config_last_reload_successful), so that the
    // same alerting habits apply.
    family("enforcer_config_last_reload_successful",
           "1 if the last configuration reload (SIGHUP, enforcerctl reload, a change of the "
           "configuration's files) succeeded; 0 while a rejected one is pending and the previous "
           "one is enforced.",
           MetricType::Gauge, Needs::kStatus, last_reload_ok),
    family("enforcer_config_reloads_total",
           "Configuration reloads since the start (SIGHUP, enforcerctl reload, a change of the "
           "configuration's files), by result: success or failure (rejected; the previous one "
           "stays in force).",
           MetricType::Counter, Needs::kStatus, reloads),
    family("enforcer_config_last_reload_success_timestamp_seconds",
           "When the configuration last took effect (start or reload), Unix seconds.",
           MetricType::Gauge, Needs::kStatus, last_reload_time),
    family("enforcer_experiment_override_info",
           "1 for each override in force, by experiment, resource and source: config (an "
           "[[override]] table) or cli (enforcerctl, which wins over the config's).",
           MetricType::Gauge, Needs::kStatus, override_info),
    family("enforcer_experiment_override_expiry_timestamp_seconds",
           "When an override in force expires, Unix seconds (overrides without an expiry are "
           "left out).",
           MetricType::Gauge, Needs::kStatus, override_expiry),
};

}  // namespace

void MetricsCollector::write(SeriesSink& out) const {
  const auto experiments = table_.snapshot();
  Scrape scrape{unattributed_, ticks_, version_, cgroups_, status_, {}, {}};
  scrape.directions.reserve(experiments->size() * 2);
  for (const auto& x : *experiments) {
    for (Direction d : kDirections) scrape.directions.push_back(sample(*x, d, tick_seconds_));
  }
  if (cgroups_) {
    scrape.resources.reserve(experiments->size());
    for (const auto& x : *experiments) scrape.resources.push_back(sample(*x));
  }
  for (const FamilySpec& spec : kFamilies) {
    if (spec.needs == Needs::kCgroups && !cgroups_) continue;
    if (spec.needs == Needs::kStatus && !status_) continue;
    out.begin_family(spec.name, spec.help, spec.type);
    spec.fill(scrape, out);
  }
}

std::vector<MetricFamily> MetricsCollector::Collect() const {
  std::vector<MetricFamily> out;
  out.reserve(std::size(kFamilies));
  FamilyBuilder builder(out);
  write(builder);
  return out;
}

void MetricsCollector::write_text(std::string& out) const {
  TextWriter writer(out);
  write(writer);
}

void MetricsCollector::write_text(std::size_t chunk,
                                  const std::function<void(std::string_view)>& emit) const {
  std::string buffer;
  buffer.reserve(chunk + 4096);  // a chunk and the series that crosses its end
  TextWriter writer(buffer, chunk, [&](std::string& full) {
    emit(full);
    full.clear();
  });
  write(writer);
  if (!buffer.empty()) emit(buffer);
}

}  // namespace enforcer
