// A datapath that keeps what the experiment-set calls write as the kernel's maps would (address
// -> id, counters per id, attached cgroups), so that tests can compare them whole, and fails the
// calls it is told to, after a partial write as a map update can leave one.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "datapath/datapath.hpp"

namespace enforcer::testing {

class FakeExperimentDatapath final : public Datapath {
 public:
  using Key = std::tuple<bool, std::array<std::uint8_t, 16>, std::uint8_t>;
  static Key key(const Prefix& p) { return {p.v6, p.bytes, p.length}; }

  // What the tests compare. A counter absent is zero (as the kernel's array holds it).
  struct Maps {
    std::map<Key, std::uint32_t> addresses;
    std::map<std::uint32_t, std::uint64_t> counters;
    std::set<std::uint32_t> cgroups;  // ids with cgroups attached
    bool operator==(const Maps&) const = default;
  };
  Maps maps;
  bool is_adopted = false;
  // 1-based numbers of the mutating calls that fail; `calls` counts them.
  std::set<int> fail_calls;
  int calls = 0;
  std::vector<std::string> log;  // "add 4", "keep 2", ... in call order

  Expected<void> add_experiment(std::uint32_t id, const std::vector<Prefix>& addresses) override {
    log.push_back("add " + std::to_string(id));
    maps.counters.erase(id);
    return write(id, addresses);
  }
  Expected<void> remove_experiment(std::uint32_t id,
                                   const std::vector<Prefix>& addresses) override {
    log.push_back("remove " + std::to_string(id));
    if (auto r = erase(addresses); !r) return r;
    maps.counters.erase(id);
    maps.cgroups.erase(id);
    return {};
  }
  bool adopted() const override { return is_adopted; }
  Expected<void> keep_experiment(std::uint32_t id, const std::vector<Prefix>& addresses) override {
    log.push_back("keep " + std::to_string(id));
    return write(id, addresses);
  }
  Expected<void> remove_addresses(const std::vector<Prefix>& addresses) override {
    log.push_back("remove_addresses");
    return erase(addresses);
  }
  std::size_t prune_addresses() override {
    std::size_t n = 0;
    for (auto it = maps.addresses.begin(); it != maps.addresses.end();) {
      if (written_.count(it->first)) {
        ++it;
      } else {
        it = maps.addresses.erase(it);
        ++n;
      }
    }
    return n;
  }
  void detach_cgroups(std::uint32_t id) override {
    log.push_back("detach_cgroups " + std::to_string(id));
    maps.cgroups.erase(id);
  }
  Expected<void> read_counters(std::uint32_t max_id, std::vector<CounterSample>& out) override {
    out.assign(max_id + 1, CounterSample{});
    return {};
  }
  Expected<void> set_limits(const std::vector<LimitUpdate>&) override { return {}; }
  void confirm_limits_until(std::uint64_t) override {}

 private:
  // A failing call has written (or erased) its first entry: the caller must clear it.
  bool failing() { return fail_calls.count(++calls) > 0; }
  Expected<void> write(std::uint32_t id, const std::vector<Prefix>& addresses) {
    const bool fail = failing();
    for (const auto& p : addresses) {
      maps.addresses[key(p)] = id;
      written_.insert(key(p));
      if (fail) return Error{"injected failure"};
    }
    if (fail) return Error{"injected failure"};
    return {};
  }
  Expected<void> erase(const std::vector<Prefix>& addresses) {
    const bool fail = failing();
    for (const auto& p : addresses) {
      maps.addresses.erase(key(p));
      if (fail) return Error{"injected failure"};
    }
    if (fail) return Error{"injected failure"};
    return {};
  }

  std::set<Key> written_;  // what this instance's add and keep wrote (prune_addresses keeps it)
};

}  // namespace enforcer::testing
