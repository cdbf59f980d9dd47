#include "experiments.hpp"

namespace enforcer {

ExperimentState::ExperimentState(std::uint32_t id_, const ExperimentConfig& config,
                                 std::uint32_t window_slots)
    : id(id_), name(config.name), addresses(config.addresses), allocation(config.allocation) {
  for (auto& d : direction) d = std::make_unique<DirectionState>(window_slots);
  overrides.pinned_bits.store(config.pinned_rate_bits, std::memory_order_relaxed);
}

}  // namespace enforcer
