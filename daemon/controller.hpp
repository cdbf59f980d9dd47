// The control plane's commands (lib/control/control_protocol.hpp) and the operators' overrides:
// keeps the override set, stores it in `state_dir` before answering, audits every change, expires
// overrides, and hands each experiment its effective allocation (the bandwidth policy's inputs
// through the experiment state; CPU, memory, I/O and disk through the cgroup pass). Runs on the
// daemon's loop.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include "config/config.hpp"
#include "control/audit_log.hpp"
#include "control/control_protocol.hpp"
#include "control/overrides.hpp"
#include "control/status_writer.hpp"
#include "control_server.hpp"
#include "pods/cgroup_enforcer.hpp"
#include "state/experiments.hpp"

namespace enforcer {

struct ControllerContext {
  const Config* config = nullptr;
  ExperimentTable* table = nullptr;
  // May be null (no cgroup2): CPU, memory and I/O overrides are then stored but not enforced.
  std::function<CgroupEnforcer*()> cgroups;
  // Validates and applies the config file again; returns the number of experiments, or the
  // errors (one per line).
  std::function<Expected<std::size_t>()> reload;
  std::string version;
  // Where the overrides in force are published for the metrics (may be null).
  DaemonStatus* status = nullptr;
};

class Controller {
 public:
  // Loads `state_dir`/overrides.json (a bad file is set aside and reported) and applies it.
  explicit Controller(ControllerContext context);

  std::string handle(const Request& request, const Peer& peer);
  // Once per tick: removes expired overrides (logged, audited, stored) and applies the result.
  void tick();
  // Checks the stored overrides against the configuration in effect (at start, after a reload),
  // sets aside those it makes invalid, and pushes every experiment's effective allocation.
  void apply_all();
  // A reload removed the experiment that had `id` (its overrides stay stored, by name, and apply
  // again if it comes back) / added `x` (with its id).
  void forget(std::uint32_t id);
  void added(const ExperimentConfig& x);

  const std::vector<Override>& overrides() const { return set_.all(); }
  // The configuration's overrides still live, then enforcerctl's.
  std::vector<Override> all_overrides() const;
  // Every configured experiment's EXP object (lib/control/control_protocol.hpp), in table order,
  // one at a time: what `status` answers and the status files hold.
  void for_each_status(
      const std::function<void(const std::string& name, nlohmann::json status)>& fn);
  // What the status files need of every configured experiment that the loop alone knows
  // (lib/control/status_writer.hpp). Rebuilt only when the experiments, the overrides or
  // configuration in force, or the pods changed since the last call; otherwise the same object.
  std::shared_ptr<const StatusInputs> status_inputs();

 private:
  std::string status(const Request& r);
  std::string show(const Request& r);
  std::string set_override(const Request& r, const Peer& peer, Resource resource);
  std::string clear_overrides(const Request& r, const Peer& peer, std::optional<Resource> which);
  std::string list(const Request& r);
  std::string reload(const Request& r, const Peer& peer);

  const ExperimentConfig* find(const std::string& name) const;
  std::string unknown_experiment(const Request& r) const;
  EffectiveAllocation effective(const ExperimentConfig& x) const;
  // The same from `overrides`, which hold at least all of x's (the set, or x's alone).
  EffectiveAllocation effective(const ExperimentConfig& x,
                                const std::vector<Override>& overrides) const;
  Expected<void> store();
  void audit(const Peer& peer, const Request& r, const std::string& change);
  void apply(const ExperimentConfig& x);
  // The same with x's state (null: none yet) and overrides (as for effective) looked up already.
  void apply(const ExperimentConfig& x, ExperimentState* state,
             const std::vector<Override>& overrides);
  // Stops enforcing stored overrides the configuration makes invalid: logged, audited, written
  // to overrides.json.rejected-<unix time>, and removed from overrides.json.
  void drop_invalid_overrides();
  // The configuration's overrides again (at start, after a reload), expired ones left out.
  void read_config_overrides();
  // Leaves out the configuration's overrides that expired (each logged once); whether any did.
  bool expire_config_overrides(WallClock::time_point now);
  // The overrides in force, for the metrics.
  void publish();
  // Pushes every experiment's effective allocation, and publishes the overrides in force.
  void apply_every();

  ControllerContext ctx_;
  std::string path_;
  AuditLog audit_;
  OverrideSet set_;
  // The configuration's overrides in force or still to expire (never stored: the config has them).
  std::vector<Override> config_set_;
  // Expired configuration overrides already logged (file:line experiment resource until).
  std::set<std::string> expired_logged_;
  // The cgroup-relevant allocation last handed to the cgroup pass, by experiment id.
  std::vector<std::optional<Allocation>> pushed_;
  // Moves at every change of the overrides in force (publish()); with the table and the pods'
  // generations it says when status_inputs_ is out of date.
  std::uint64_t overrides_generation_ = 0;
  struct StatusInputsKey {
    // Held, not only compared: a list freed and another made at its address would look the same.
    std::shared_ptr<const ExperimentList> table;
    std::uint64_t overrides = 0;
    std::uint64_t pods = 0;
    bool operator==(const StatusInputsKey&) const = default;
  };
  StatusInputsKey status_inputs_key_;
  std::shared_ptr<const StatusInputs> status_inputs_;
};

}  // namespace enforcer
