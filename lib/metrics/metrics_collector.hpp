// Builds the per-experiment metric families at scrape time from the shared state (rings and
// atomic totals), without ever blocking the sampler.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <chrono>
#include <string>
#include <vector>

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
