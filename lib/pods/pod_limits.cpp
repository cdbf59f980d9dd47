#include "pods/pod_limits.hpp"

#include <fmt/format.h>

#include "base/log.hpp"

namespace enforcer {

PodLimitWriter::PodLimitWriter(CgroupApplier& applier, CgroupManager manager)
    : applier_(applier),
      manager_(manager),
      use_systemd_(manager != CgroupManager::kCgroupfs && SystemdUnits::systemd_is_init()) {
  if (manager == CgroupManager::kSystemd && !use_systemd_) {
    log_error(
        "daemon.cgroup_manager = \"systemd\", but PID 1 is not systemd (no "
        "/run/systemd/system): the cgroup limits are written to the cgroup files");
  }
}

void PodLimitWriter::fall_back(const std::string& why) {
  // Once per cause: the same refusal comes back at every drift correction.
  if (!logged_.insert(why).second) return;
  if (manager_ == CgroupManager::kSystemd) {
    log_error("{}; writing the cgroup files directly instead", why);
  } else {
    log_warning("{}; writing the cgroup files directly instead", why);
  }
}

std::string PodLimitWriter::owning_unit(const std::string& pod) {
  if (!use_systemd_) return {};
  std::string unit = systemd_unit_of(pod);
  const std::string control_group = systemd_control_group(applier_.options().cgroup_root, pod);
  if (unit.empty() || control_group.empty()) {
    if (manager_ == CgroupManager::kSystemd) {
      fall_back(fmt::format(
          "daemon.cgroup_manager = \"systemd\", but pod {} is not a systemd unit below {}", pod,
          applier_.options().cgroup_root));
    }
    return {};
  }
  auto owned = units_.owns(unit, control_group);
  if (!owned) {
    fall_back(fmt::format("cannot ask systemd whether it owns {}: {}", pod, owned.error().message));
    return {};
  }
  // A unit systemd does not know (a pod made with mkdir under a systemd-like name) is the
  // cgroupfs driver's: a message only when the configuration says every pod is systemd's.
  if (!*owned && manager_ == CgroupManager::kSystemd) {
    fall_back(fmt::format("daemon.cgroup_manager = \"systemd\", but systemd has no unit {} for {}",
                          unit, pod));
  }
  return *owned ? unit : std::string();
}

CgroupApplyResult PodLimitWriter::apply(const std::string& pod,
                                        const std::vector<CgroupFileValue>& values) {
  const std::string unit = owning_unit(pod);
  if (unit.empty()) return applier_.apply(pod, values);
  auto properties = systemd_properties(values);
  if (!properties) {
    fall_back(fmt::format("limits of {} through systemd: {}", unit, properties.error().message));
    return applier_.apply(pod, values);
  }
  if (auto r = units_.set_properties(unit, *properties); !r) {
    fall_back(r.error().message);
    return applier_.apply(pod, values);
  }
  CgroupApplyResult result;
  result.systemd_unit = unit;
  for (const CgroupFileValue& v : values) {
    CgroupFileResult f;
    f.wanted = v;
    f.status = CgroupFileStatus::kWritten;
    result.files.push_back(std::move(f));
  }
  return result;
}

}  // namespace enforcer
