// Where an experiment's limits go: through systemd for a pod cgroup that is a systemd unit (see
// lib/pods/systemd_units.hpp for why), as direct cgroup file writes (lib/pods/cgroup_apply.hpp)
// for every other cgroup -- the cgroupfs driver's pods, test trees, a machine whose PID 1 is not
// systemd -- and as the fallback when systemd cannot be asked or refuses. Reading the values
// back (the drift check) is always from the files. daemon.cgroup_manager chooses (CgroupManager
// in config/config.hpp): "auto", "systemd" (the same, but the files are an error), "cgroupfs".
#pragma once

#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "pods/cgroup_apply.hpp"
#include "pods/cgroup_values.hpp"
#include "pods/systemd_units.hpp"

namespace enforcer {

class PodLimitWriter {
 public:
  // Reports at once (an error in the log) a `manager` of kSystemd on a machine whose PID 1 is not
  // systemd: the files are written then.
  PodLimitWriter(CgroupApplier& applier, CgroupManager manager);

  // Sets `values` on the pod cgroup `pod`: as unit properties when systemd owns it (the result's
  // systemd_unit names the unit, every file counts as written: systemd writes them itself),
  // else through the applier. A fallback from systemd to the files is logged once per cause.
  CgroupApplyResult apply(const std::string& pod, const std::vector<CgroupFileValue>& values);

 private:
  // The unit that owns `pod`, or empty (with the cause logged once when it is not an ordinary
  // non-systemd cgroup).
  std::string owning_unit(const std::string& pod);
  void fall_back(const std::string& why);

  CgroupApplier& applier_;
  CgroupManager manager_;
  bool use_systemd_;
  SystemdUnits units_;
  std::set<std::string> logged_;
};

}  // namespace enforcer
