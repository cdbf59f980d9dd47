// Applying an experiment's cgroup v2 file values (lib/pods/cgroup_values.hpp) to one cgroup
// directory, checking that they are still there (drift), and reading the cgroup's usage statistics.
//
// A cgroup that vanishes (the pod was deleted, the container restarted) is an ordinary outcome
// ("gone"), never an exception: ENOENT on a file of a directory that no longer exists, or ENODEV
// (the kernel's answer on a file of a removed cgroup). Every file descriptor is closed on every
// path.
//
// Writes go through libcgroup (cgroup_modify_cgroup with one value per call, so that each file
// gets its own result) where libcgroup can serve the directory: the file's controller is mounted,
// as libcgroup found it at cgroup_init(), on a cgroup2 mount that holds the directory. Otherwise
// (no cgroup mounted, a hybrid host whose controllers libcgroup maps to their v1 mounts, a test
// tree of plain files, a value longer than libcgroup's CG_VALUE_MAX of 100 bytes) they are plain
// open/write/close. Reads are always direct: cgroup_get_cgroup() reads every file of every
// controller in the directory, and cgroup_get_value_string() only short values.
//
// What libcgroup 2.0.2 (Debian 12) did on the vm tier's guest (Debian's 6.1 kernel, a pure cgroup2
// mount at /sys/fs/cgroup, kubelet-style paths below kubepods.slice), as measured:
//  - cgroup_init() = 0; cgroup_new_cgroup("kubepods.slice/.../cri-containerd-<id>.scope") +
//    cgroup_add_controller("cpu"|"memory"|"io") + cgroup_add_value_string() +
//    cgroup_modify_cgroup() = 0 for cpu.max "50000 100000", memory.max, memory.swap.max "0" and
//    io.max "7:0 rbps=1000000"; the files then held those values. A leading '/' works too.
//  - an invalid value (cpu.max "garbage") = ECGOTHER (50016), cgroup_get_last_errno() = EINVAL:
//    usable.
//  - a cgroup directory that does not exist = ECGROUPVALUENOTEXIST (50015, "requested group
//    parameter does not exist"), exactly what a missing file in an existing directory
//    (cpu.nonexistent) gives; cgroup_get_last_errno() keeps the errno of an earlier failure (it
//    still said EINVAL). So "gone" is told from "no such file" here by looking at the directory.
//  - on a build machine (hybrid: cpu and memory on cgroup v1, cgroup2 at /sys/fs/cgroup/unified),
//    cgroup_get_subsys_mount_point("cpu") = /sys/fs/cgroup/cpu and "io" = ECGROUPNOTEXIST:
//    libcgroup maps a controller to one mount and would write a v2 path's cpu.max into the v1
//    hierarchy, ignoring daemon.cgroup_root. Hence the mount check above.
//  - libcgroup has no call to enable controllers in an existing cgroup's cgroup.subtree_control
//    (cgroup_create_cgroup does it for the groups it creates): that is a direct write here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pods/cgroup_stats.hpp"
#include "pods/cgroup_values.hpp"

namespace enforcer {

enum class CgroupFileStatus {
  kWritten,  // the value was accepted by the kernel
  kFailed,   // the kernel (or the file system) refused it: see error
  kGone,     // the cgroup directory no longer exists (this file and every later one)
};

struct CgroupFileResult {
  CgroupFileValue wanted;
  CgroupFileStatus status = CgroupFileStatus::kFailed;
  int error_number = 0;  // errno of a failure
  std::string error;     // "writing \"garbage\" to DIR/cpu.max: Invalid argument"
};

struct CgroupApplyResult {
  bool gone = false;                      // the directory vanished (before or while applying)
  std::vector<CgroupFileResult> files;    // one per value, in the order given
  std::vector<std::string> setup_errors;  // enabling controllers failed (one line each)
  std::string systemd_unit;  // set through this systemd unit's properties (empty: the files)

  std::size_t written() const;
  std::size_t failed() const;
  bool ok() const { return !gone && failed() == 0; }
};

struct CgroupDrift {
  CgroupFileValue wanted;
  std::string found;  // what the file held (trimmed); empty and `missing` when it did not exist
  bool missing = false;
};

struct CgroupCheckResult {
  bool gone = false;
  std::vector<CgroupDrift> drifted;  // files that do not hold their value: rewrite these
  std::vector<std::string> errors;   // files that could not be read (not drift; one line each)
};

// Which writer apply() uses for a file of a directory.
enum class CgroupWriter { kLibcgroup, kDirect };
std::string_view to_string(CgroupWriter writer);

// The controller a cgroup interface file belongs to: the part of its name before the first '.'
// ("cpu.max" -> "cpu", "memory.swap.max" -> "memory"); empty for the core files ("cgroup.*") and
// for a name without '.'.
std::string controller_of(std::string_view file);

// The distinct controllers the files of `values` need, in order of first appearance.
std::vector<std::string> controllers_needed(const std::vector<CgroupFileValue>& values);

// The cgroups from `cgroup_root` (exclusive: its own subtree_control is the first to change)
// down to `cgroup_dir` (exclusive), as paths whose subtree_control must hold a controller for
// `cgroup_dir` to have the controller's files: root, root/a, root/a/b for root/a/b/c. Empty when
// `cgroup_dir` is not below `cgroup_root`. Pure (string work, no file system access).
std::vector<std::string> subtree_control_chain(std::string_view cgroup_root,
                                               std::string_view cgroup_dir);

class CgroupApplier {
 public:
  struct Options {
    std::string cgroup_root = "/sys/fs/cgroup";
    bool use_libcgroup = true;  // false: always write directly
  };
  explicit CgroupApplier(Options options);

  // Makes sure the controllers the values need are enabled for `cgroup_dir` (cgroup.controllers
  // lists them; otherwise "+cpu +memory +io" is written into each subtree_control from the root
  // down to the parent), then writes each value in order. Stops at the first file that finds the
  // directory gone (the remaining files are reported kGone too); a failed file does not stop the
  // others.
  CgroupApplyResult apply(const std::string& cgroup_dir,
                          const std::vector<CgroupFileValue>& values);

  // Enables `controllers` for `cgroup_dir` as apply() does; returns the errors, one line each,
  // naming the cgroup, the controller and the cause (EBUSY: the cgroup has processes of its own,
  // cgroup v2's "no internal processes" rule). Stops at the first level that fails. Sets *gone
  // when `cgroup_dir` does not exist.
  std::vector<std::string> enable_controllers(const std::string& cgroup_dir,
                                              const std::vector<std::string>& controllers,
                                              bool* gone = nullptr);

  // Reads each file back and compares it with cgroup_value_matches() (page size of this
  // machine). A file that does not exist in an existing directory is drift (`missing`: its
  // controller was disabled; apply() enables it again).
  CgroupCheckResult check(const std::string& cgroup_dir,
                          const std::vector<CgroupFileValue>& values) const;

  // The writer apply() uses for `file` in `cgroup_dir`.
  CgroupWriter writer_for(const std::string& cgroup_dir, std::string_view file,
                          std::string_view value = {}) const;

  const Options& options() const { return options_; }

 private:
  Options options_;
  bool libcgroup_ok_ = false;
};

// A cgroup's usage: cpu.stat always; memory.* and io.stat where those controllers are enabled
// (absent files are nullopt, not errors).
struct CgroupUsage {
  CpuStat cpu;
  std::optional<std::uint64_t> memory_current;
  std::optional<std::uint64_t> memory_max;  // nullopt also for "max"
  std::optional<MemoryEvents> memory_events;
  std::optional<IoStat> io;
};

struct CgroupUsageResult {
  bool gone = false;
  CgroupUsage usage;
  std::vector<std::string> errors;  // unreadable or malformed files (the others are still read)
  bool ok() const { return !gone && errors.empty(); }
};

CgroupUsageResult read_usage(const std::string& cgroup_dir);

// Reading and writing one interface file directly (open, one read loop or one write, close).
// Status kGone as above.
struct CgroupFileRead {
  CgroupFileStatus status = CgroupFileStatus::kFailed;  // kWritten here means "read"
  std::string text;
  int error_number = 0;
  std::string error;
};
CgroupFileRead read_cgroup_file(const std::string& cgroup_dir, std::string_view file);
CgroupFileResult write_cgroup_file(const std::string& cgroup_dir, const CgroupFileValue& value);

}  // namespace enforcer
