// A reload's changes to the set of experiments, carried out on the datapath and the experiment
// table: experiments added, removed, and kept ones re-addressed (the plan: config/reload_plan.hpp).
// The datapath part is all or nothing: a failed step undoes what the earlier ones did, so that
// the running configuration stays in force.
#pragma once

#include "base/expected.hpp"
#include "config/config.hpp"
#include "config/reload_plan.hpp"
#include "datapath/datapath.hpp"
#include "state/experiments.hpp"

namespace enforcer {

// Whether `plan` adds, removes or re-addresses anything (else there is nothing to carry out).
bool changes_experiments(const ReloadPlan& plan);

// Moves the datapath from `running`'s experiments to `next`'s (addresses no experiment keeps
// unattributed, new experiments with zeroed counters, kept ones' new addresses), then publishes
// `next`'s experiments in `table`: kept ones keep their state, new ones start empty. On a
// failure the datapath is undone, the table is left as it was, and the error says whether the
// undo itself failed anywhere.
Expected<void> change_experiments(Datapath& datapath, ExperimentTable& table, const Config& running,
                                  const Config& next, const ReloadPlan& plan);

// After change_experiments (and once the cgroup side knows `next`): the removed experiments' ids
// freed in the datapath, or only their cgroups detached when a new experiment took the id. Never
// undone; a failure is logged.
void retire_experiments(Datapath& datapath, const Config& running, const Config& next,
                        const ReloadPlan& plan);

}  // namespace enforcer
