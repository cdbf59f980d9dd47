// An experiment's cgroup limits set through systemd, for a pod cgroup that is a systemd unit (the
// kubelet's systemd cgroup driver makes each pod a slice unit and each container a scope).
//
// Why: systemd owns the attributes of its units' cgroups. A value written straight into such a
// cgroup's files is undone by the next `systemctl daemon-reload` (measured on the vm tier's guest,
// Debian's systemd 252 as PID 1: memory.max went back to "max" and systemd disabled the cpu
// controller in the parent, so cpu.max vanished), and the daemon's drift check would then put it
// back a tick later, every time. The same limits given to systemd as runtime unit properties
// (Manager.SetUnitProperties, runtime = true, as `systemctl set-property --runtime` does) survive
// a daemon-reload, and systemd enables the controllers they need by itself.
//
// The mapping from cgroup file values to properties is pure (systemd_properties()); the bus part
// (SystemdUnits) speaks to PID 1 through its private socket when it can (root, no D-Bus daemon
// needed), the system bus otherwise.
#pragma once

#include <systemd/sd-bus.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "base/expected.hpp"
#include "pods/cgroup_values.hpp"

namespace enforcer {

// The systemd unit a cgroup directory would be: its last path component when that ends in
// ".slice" or ".scope" (with something before the suffix), else empty. Pure.
std::string systemd_unit_of(std::string_view cgroup_dir);

// `cgroup_dir` as systemd names cgroups (its ControlGroup property): the path below `cgroup_root`
// with a leading '/' ("/" for the root itself); empty when it is not below `cgroup_root`. Pure.
std::string systemd_control_group(std::string_view cgroup_root, std::string_view cgroup_dir);

// One unit property for SetUnitProperties: a number ("t") or a list of (device path, number)
// ("a(st)", the I/O limits).
struct SystemdProperty {
  using DeviceLimits = std::vector<std::pair<std::string, std::uint64_t>>;
  std::string name;
  std::variant<std::uint64_t, DeviceLimits> value;

  bool operator==(const SystemdProperty&) const = default;
};

// systemd's "no limit" for numbers (its CGROUP_LIMIT_MAX and USEC_INFINITY).
inline constexpr std::uint64_t kSystemdInfinity = UINT64_MAX;

// The properties that make systemd write exactly `values` (as cgroup_values() makes them):
//   cpu.max "Q P"        -> CPUQuotaPerSecUSec Q * 1e6 / P ("max": infinity), and
//                           CPUQuotaPeriodUSec P when P is not the kernel's 100 ms;
//   memory.max/high/swap.max -> MemoryMax / MemoryHigh / MemorySwapMax (bytes; "max": infinity);
//   io.max "MAJ:MIN rbps=.. wbps=.. riops=.. wiops=.." -> IOReadBandwidthMax, IOWriteBandwidthMax,
//                           IOReadIOPSMax, IOWriteIOPSMax, each ("/dev/block/MAJ:MIN", value),
//                           "max" or a missing key as infinity (systemd resolves that path to the
//                           device itself, with no lookup by name).
// An error names a file systemd has no property for, or a value that does not parse.
Expected<std::vector<SystemdProperty>> systemd_properties(
    const std::vector<CgroupFileValue>& values);

// The connection to systemd. Not thread-safe: the daemon's event loop owns it.
class SystemdUnits {
 public:
  SystemdUnits() = default;
  ~SystemdUnits();
  SystemdUnits(const SystemdUnits&) = delete;
  SystemdUnits& operator=(const SystemdUnits&) = delete;

  // PID 1 is systemd (sd_booted(): /run/systemd/system exists). Read once.
  static bool systemd_is_init();

  // Whether systemd has `unit` loaded with `control_group` as its cgroup (Manager.GetUnit, then
  // the unit's ControlGroup): false for an unknown unit or another cgroup; an error when systemd
  // cannot be asked.
  Expected<bool> owns(const std::string& unit, const std::string& control_group);

  // Manager.SetUnitProperties(unit, runtime = true, properties).
  Expected<void> set_properties(const std::string& unit,
                                const std::vector<SystemdProperty>& properties);

 private:
  Expected<sd_bus*> bus();
  void drop_bus();
  sd_bus* bus_ = nullptr;
};

}  // namespace enforcer
