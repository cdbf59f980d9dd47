// What the daemon needs from the packet datapath, behind a small interface so that the sampler
// and policy can be tested with a fake. The BPF implementation is BpfDatapath (bpf_datapath.hpp).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/address.hpp"
#include "base/expected.hpp"
#include "enforcer_abi.h"

namespace enforcer {

enum Direction : int { kEgress = 0, kIngress = 1 };
inline constexpr std::array kDirections{kEgress, kIngress};
inline constexpr const char* direction_name(Direction d) {
  return d == kEgress ? "egress" : "ingress";
}

// Cumulative counters of one experiment id, summed over CPUs. Bytes and packets passed; what
// the rate limit dropped is counted apart. charged: the bytes that passed against the budget
// total (RateLimit::budget_bytes_total), read before the others, so that a byte passing between
// the two reads counts against the next total, never for it.
struct CounterSample {
  std::array<std::uint64_t, 2> bytes{};
  std::array<std::uint64_t, 2> packets{};
  std::array<std::uint64_t, 2> dropped_bytes{};
  std::array<std::uint64_t, 2> dropped_packets{};
  std::array<std::uint64_t, 2> charged{};
};

// The rate the datapath holds an experiment to, per direction, in the programs' terms
// (bpf/enforcer_abi.h): kRateUnlimited (0) passes everything, kRateStop nothing.
// police_tolerance_ns: the burst a policer admits, in ns at the rate; edt_horizon_ns: how long a
// paced packet may wait in fq before it is dropped instead. budget_bytes_total: while the
// experiment's charged bytes (CounterSample::charged) are below it, packets pass at the path's
// speed; 0: no budget, the rate alone. fallback_*: what holds once the daemon stops confirming
// its limits (Datapath::confirm_limits_until): the experiment's allocation A or pinned rate, with
// its policer bucket, no budget; a fallback rate of 0 passes everything.
inline constexpr std::uint64_t kRateUnlimited = ENFORCER_RATE_UNLIMITED;
inline constexpr std::uint64_t kRateStop = ENFORCER_RATE_STOP;

struct RateLimit {
  std::array<std::uint64_t, 2> bytes_per_second{};
  std::array<std::uint64_t, 2> police_tolerance_ns{};
  std::uint64_t edt_horizon_ns = 0;
  std::array<std::uint64_t, 2> budget_bytes_total{};
  std::array<std::uint64_t, 2> fallback_bytes_per_second{};
  std::array<std::uint64_t, 2> fallback_tolerance_ns{};

  bool operator==(const RateLimit&) const = default;
};

struct LimitUpdate {
  std::uint32_t id;
  RateLimit limit;
};

class Datapath {
 public:
  virtual ~Datapath() = default;

  // Attributes `addresses` to experiment `id` (replacing what it had) and zeroes its counters.
  virtual Expected<void> add_experiment(std::uint32_t id, const std::vector<Prefix>& addresses) = 0;
  // Frees `id`: its addresses, counters and rate state, and its cgroups (a freed id attributes
  // nothing).
  virtual Expected<void> remove_experiment(std::uint32_t id,
                                           const std::vector<Prefix>& addresses) = 0;
  // The experiment-set changes (lib/lifecycle/) need these; the sampler and limiter do not.
  // True when the datapath took over a previous instance's maps (its counters).
  virtual bool adopted() const = 0;
  // Attributes `addresses` to `id` like add_experiment, but keeps the id's counters, limit and
  // rate state (the id is still the same experiment's).
  virtual Expected<void> keep_experiment(std::uint32_t id,
                                         const std::vector<Prefix>& addresses) = 0;
  // Removes address entries, whoever they attribute to; missing ones are no error.
  virtual Expected<void> remove_addresses(const std::vector<Prefix>& addresses) = 0;
  // Adopted maps: removes the address entries no add_experiment or keep_experiment of this
  // instance wrote. Returns how many.
  virtual std::size_t prune_addresses() = 0;
  // Detaches every cgroup of the experiment.
  virtual void detach_cgroups(std::uint32_t id) = 0;
  // Fills out[0..max_id] with the cumulative counters of ids 0..max_id (0 = unattributed).
  virtual Expected<void> read_counters(std::uint32_t max_id, std::vector<CounterSample>& out) = 0;
  // Holds each experiment to its new limit from its next packet on (one batch per tick).
  virtual Expected<void> set_limits(const std::vector<LimitUpdate>& updates) = 0;
  // The limits set hold until `monotonic_ns` (CLOCK_MONOTONIC); past it every experiment falls
  // back to its fallback rate (RateLimit). The daemon moves it ahead every tick it has set them.
  virtual void confirm_limits_until(std::uint64_t monotonic_ns) = 0;
};

}  // namespace enforcer
