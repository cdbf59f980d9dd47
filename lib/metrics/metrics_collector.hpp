// Builds the per-experiment metric families at scrape time from the shared state (rings and
// atomic totals), without ever blocking the sampler.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/series_sink.hpp"
#include "metrics/tick_stats.hpp"
#include "state/experiments.hpp"

namespace enforcer {

class MetricsCollector : public prometheus::Collectable {
 public:
  MetricsCollector(const ExperimentTable& table, const UnattributedTotals& unattributed,
                   const TickStats& ticks, std::chrono::nanoseconds tick, std::string version,
                   const CgroupTotals* cgroups = nullptr, const DaemonStatus* status = nullptr)
      : table_(table),
        unattributed_(unattributed),
        ticks_(ticks),
        tick_seconds_(std::chrono::duration<double>(tick).count()),
        version_(std::move(version)),
        cgroups_(cgroups),
        status_(status) {}

  std::vector<prometheus::MetricFamily> Collect() const override;
  // Appends the text a scrape returns: what prometheus::TextSerializer makes of Collect(), at a
  // fraction of its time and memory (series_sink.hpp).
  void write_text(std::string& out) const;
  // The same text in pieces of about `chunk` bytes, each handed to `emit` as it is written (an
  // HTTP response sent chunked): a scrape of 10,000 experiments (18 MB) never exists whole.
  void write_text(std::size_t chunk, const std::function<void(std::string_view)>& emit) const;
  // Writes every family into `out`, in the order a scrape shows them.
  void write(SeriesSink& out) const;

 private:
  const ExperimentTable& table_;
  const UnattributedTotals& unattributed_;
  const TickStats& ticks_;
  const double tick_seconds_;
  const std::string version_;
  const CgroupTotals* cgroups_;  // none: the cgroup families are left out
  const DaemonStatus* status_;   // none: the config reload families are left out
};

}  // namespace enforcer
