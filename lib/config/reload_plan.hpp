// What a reload changes in the set of experiments, decided before anything is touched: which
// experiments are new (and the id each gets), which are gone, which stay (with their id, window,
// counters and limits), and what the running daemon cannot apply without a restart. Pure logic;
// lib/lifecycle/experiment_changes.hpp carries the plan out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace enforcer {

// Gives every experiment an id in 1..max_id: an experiment named in `keep` keeps that id (when it
// is in range and not taken by an earlier one), every other takes the lowest id nobody holds,
// ids in `avoid` only when no other is free (a reload gives new experiments ids the running ones
// do not use, so undoing it never touches a running experiment's counters). Returns the errors
// (only when more experiments than max_id): then the ids are unchanged.
std::vector<std::string> assign_ids(std::vector<ExperimentConfig>& experiments,
                                    const std::map<std::string, std::uint32_t>& keep,
                                    std::uint32_t max_id,
                                    const std::set<std::uint32_t>& avoid = {});

struct ReloadPlan {
  std::vector<std::size_t> added;    // indexes into next.experiments
  std::vector<std::size_t> removed;  // indexes into running.experiments
  // (running index, next index) of the experiments in both, by name.
  std::vector<std::pair<std::size_t, std::size_t>> kept;
  // Kept experiments whose addresses or cgroup glob changed (next indexes).
  std::vector<std::size_t> readdressed;
  // Everything the reload cannot apply (a restart is needed), one message each; when there is
  // any, nothing may change.
  std::vector<std::string> errors;
};

// Compares the running configuration (its experiments carry their ids) with `next`, a validated
// configuration, and assigns `next`'s ids: kept experiments keep theirs, new ones get the lowest
// free ids (at most next.daemon.max_experiments).
ReloadPlan plan_reload(const Config& running, Config& next);

}  // namespace enforcer
