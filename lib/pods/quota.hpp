// Project quotas on an experiment's data directory (XFS and ext4).
//
//   1. the directory gets the experiment's project id and the PROJINHERIT flag
//      (FS_IOC_FSGETXATTR / FS_IOC_FSSETXATTR), so that everything created below it is charged
//      to the project; what is already there is tagged too (a walk of the tree, on the first
//      application only: when the directory's own id changes);
//   2. the project's block limit is set, soft = hard, with quotactl: XFS Q_XSETQLIM (struct
//      fs_disk_quota in 512-byte basic blocks), ext4 Q_SETQUOTA on PRJQUOTA (struct dqblk, limits
//      in 1 KiB blocks);
//   3. usage and limit are read back (Q_XGETQUOTA / Q_GETQUOTA).
// The device quotactl needs is the source of the mount that holds the directory
// (/proc/self/mountinfo, matched by st_dev); when that is not a block device with the same
// number (e.g. "/dev/root"), quotactl_fd(2) on the directory is used instead (Linux 5.14+).
// Every error names the path, the filesystem type and the cause.
// Measured in the vm tier (Debian's 6.1 kernel): a write past the limit fails with ENOSPC on XFS
// (it reports a project's limit as a full filesystem; statfs inside the directory shows the
// limit as its size) and with EDQUOT on ext4; ext4 (the generic quota code) lets a process with
// CAP_SYS_RESOURCE exceed hard limits, XFS does not.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.hpp"

namespace enforcer {

// --- Pure parts ---------------------------------------------------------------------------

// One line of /proc/PID/mountinfo (the fields the quota code needs).
struct MountInfo {
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  std::string root;           // the root of the mount within its filesystem
  std::string mount_point;    // octal escapes (\040 for a space, ...) decoded
  std::string options;        // per-mount options
  std::string fs_type;        // "xfs", "ext4", ...
  std::string source;         // "/dev/loop0", ...
  std::string super_options;  // per-superblock options ("rw,prjquota", ...)
};

// Parses a whole mountinfo file; malformed lines are skipped.
std::vector<MountInfo> parse_mountinfo(std::string_view text);

// Decodes the octal escapes mountinfo uses in paths ("\040" -> ' ').
std::string decode_mountinfo_path(std::string_view s);

// The mount of the filesystem with device number major:minor that holds `path` (an absolute,
// canonical path): the entry with that device whose mount point is the longest prefix of
// `path`; any entry with that device when none is a prefix (bind mounts seen from elsewhere).
std::optional<MountInfo> find_mount(const std::vector<MountInfo>& mounts, std::uint32_t major,
                                    std::uint32_t minor, std::string_view path);

enum class QuotaFs { kXfs, kExt4, kOther };
QuotaFs quota_fs_of(std::string_view fs_type);

// Bytes to the unit quotactl takes, rounded down (never below one unit for a non-zero limit:
// 0 means "no limit"). XFS: 512-byte basic blocks; ext4 (the generic interface): 1 KiB.
inline constexpr std::uint64_t kXfsBasicBlock = 512;
inline constexpr std::uint64_t kQuotaBlock = 1024;  // QIF_DQBLKSIZE
std::uint64_t bytes_to_quota_blocks(std::uint64_t bytes, std::uint64_t block_size);

// --- Kernel-facing parts ------------------------------------------------------------------

struct QuotaFilesystem {
  std::string path;         // the directory asked about (as given)
  std::string mount_point;  // of the filesystem that holds it
  std::string fs_type;
  std::string device;  // mountinfo's source
  dev_t dev = 0;       // st_dev of path
  QuotaFs kind = QuotaFs::kOther;
};

// Finds the filesystem holding `path`. An error when `path` does not exist or its filesystem is
// neither XFS nor ext4 (named in the message).
Expected<QuotaFilesystem> quota_filesystem(const std::string& path,
                                           const std::string& mountinfo = "/proc/self/mountinfo");

// The project id and whether PROJINHERIT is set, of one file or directory.
struct ProjectAttr {
  std::uint32_t project_id = 0;
  bool inherit = false;
};
Expected<ProjectAttr> get_project(const std::string& path);

// Sets `path`'s project id (and PROJINHERIT on a directory). With `recursive`, also every
// directory and regular file below it on the same filesystem whose id differs (symbolic links,
// devices, sockets and fifos are not opened, nor an entry that is no longer what was looked at
// when it is opened; they are counted in `skipped`), before `path` itself, so that a walk cut
// short leaves `path` untagged. `stop`, when set, ends a walk early (an error). Returns how many
// inodes were changed.
struct ProjectTagResult {
  std::uint64_t changed = 0;
  std::uint64_t skipped = 0;
};
Expected<ProjectTagResult> set_project(const std::string& path, std::uint32_t project_id,
                                       bool recursive, const std::atomic<bool>* stop = nullptr);

struct ProjectQuota {
  std::uint32_t project_id = 0;
  std::uint64_t used_bytes = 0;
  std::uint64_t hard_limit_bytes = 0;  // 0: no limit
  std::uint64_t soft_limit_bytes = 0;
  std::uint64_t used_inodes = 0;
};

// Sets the block limit of `project_id` on the filesystem holding `fs.path`: hard = soft =
// `limit_bytes` rounded down to the filesystem's quota unit (0 removes the limit).
Expected<void> set_project_limit(const QuotaFilesystem& fs, std::uint32_t project_id,
                                 std::uint64_t limit_bytes);

// Usage and limits of `project_id` (a project the filesystem has no record of is all zeros).
Expected<ProjectQuota> get_project_quota(const QuotaFilesystem& fs, std::uint32_t project_id);

// Everything for one experiment: finds the filesystem, tags `data_dir` (with kWhenUntagged,
// recursively when its own id or inherit flag was not yet right; with kNever the directory alone,
// and the caller walks the tree, see quota_walker.hpp), sets the limit, reads usage and limit
// back.
enum class QuotaWalk { kWhenUntagged, kNever };
struct QuotaApplyResult {
  QuotaFilesystem fs;
  ProjectTagResult tagged;
  ProjectQuota quota;
};
Expected<QuotaApplyResult> apply_project_quota(const std::string& data_dir,
                                               std::uint32_t project_id, std::uint64_t limit_bytes,
                                               QuotaWalk walk = QuotaWalk::kWhenUntagged);

}  // namespace enforcer
