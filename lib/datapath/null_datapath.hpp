// A Datapath that holds nothing: every call succeeds and changes nothing, counters read as zero.
// The base of the unit tests' and the benchmarks' fakes, which override only the calls they look
// at.
#pragma once

#include "datapath/datapath.hpp"

namespace enforcer {

class NullDatapath : public Datapath {
 public:
  Expected<void> add_experiment(std::uint32_t, const std::vector<Prefix>&) override { return {}; }
  Expected<void> remove_experiment(std::uint32_t, const std::vector<Prefix>&) override {
    return {};
  }
  bool adopted() const override { return false; }
  Expected<void> keep_experiment(std::uint32_t, const std::vector<Prefix>&) override { return {}; }
  Expected<void> remove_addresses(const std::vector<Prefix>&) override { return {}; }
  std::size_t prune_addresses() override { return 0; }
  void detach_cgroups(std::uint32_t) override {}
  Expected<void> read_counters(std::uint32_t max_id, std::vector<CounterSample>& out) override {
    out.assign(max_id + 1, CounterSample{});
    return {};
  }
  Expected<void> set_limits(const std::vector<LimitUpdate>&) override { return {}; }
  void confirm_limits_until(std::uint64_t) override {}
};

}  // namespace enforcer
