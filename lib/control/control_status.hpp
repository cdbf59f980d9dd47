// What the control socket reports about the experiments (the EXP object of
// lib/control/control_protocol.hpp): built from the live experiment state, the effective allocation
// and the overrides. Pure; called on the daemon's loop.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "control/overrides.hpp"
#include "state/experiments.hpp"

namespace enforcer {

nlohmann::json experiment_status(const ExperimentState& x, const EffectiveAllocation& effective,
                                 std::chrono::nanoseconds tick, const std::string& pod,
                                 const std::vector<Override>& overrides);

}  // namespace enforcer
