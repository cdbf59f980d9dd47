#include "pods/quota.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/dqblk_xfs.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/quota.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "base/fd.hpp"

namespace enforcer {
namespace {

std::vector<std::string_view> split_spaces(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool parse_u32(std::string_view s, std::uint32_t& out) {
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool path_has_prefix(std::string_view path, std::string_view prefix) {
  if (prefix == "/") return !path.empty() && path.front() == '/';
  if (path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

std::string describe(const QuotaFilesystem& fs) {
  return fmt::format("{} on {}, mounted at {}", fs.fs_type, fs.device, fs.mount_point);
}

// Why a quotactl failed, in words an operator can act on.
std::string quotactl_cause(const QuotaFilesystem& fs, int e) {
  switch (e) {
    case ESRCH:
      if (fs.kind == QuotaFs::kExt4) {
        return fmt::format(
            "project quota not enabled: the filesystem needs the project and quota features "
            "(tune2fs -O project,quota {}) and {} mounted with prjquota",
            fs.device, fs.mount_point);
      }
      return fmt::format("quota not enabled: mount {} with prjquota", fs.mount_point);
    case ENOSYS:
      return "the kernel has no quota support (CONFIG_QUOTA, CONFIG_XFS_QUOTA)";
    case EPERM:
      return "not permitted (needs CAP_SYS_ADMIN)";
    case ENOTBLK:
    case ENODEV:
      return fmt::format("{} is not the filesystem's block device ({})", fs.device,
                         std::strerror(e));
    case EINVAL:
      return fmt::format("the filesystem refused the request ({})", std::strerror(e));
    default:
      return std::strerror(e);
  }
}

// quotactl on the filesystem: through its block device when mountinfo names one with the right
// number, otherwise quotactl_fd on the directory itself.
int do_quotactl(const QuotaFilesystem& fs, int cmd, std::uint32_t id, void* addr) {
  struct stat st {};
  if (::stat(fs.device.c_str(), &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == fs.dev) {
    return ::quotactl(cmd, fs.device.c_str(), static_cast<int>(id), static_cast<caddr_t>(addr));
  }
#ifdef SYS_quotactl_fd
  const Fd fd(::open(fs.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return -1;
  return static_cast<int>(
      ::syscall(SYS_quotactl_fd, fd.get(), static_cast<unsigned>(cmd), static_cast<int>(id), addr));
#else
  errno = ENOTBLK;
  return -1;
#endif
}

Expected<struct fsxattr> get_fsxattr(int fd, const std::string& path) {
  struct fsxattr attr {};
  if (::ioctl(fd, FS_IOC_FSGETXATTR, &attr) != 0) {
    const int e = errno;
    return Error{fmt::format(
        "reading the project id of {} (FS_IOC_FSGETXATTR): {}", path,
        e == ENOTTY || e == EOPNOTSUPP ? "the filesystem has no project ids" : std::strerror(e))};
  }
  return attr;
}

// Sets fd's project id (and PROJINHERIT on a directory) when they differ; true when it changed.
Expected<bool> tag_fd(int fd, bool is_dir, std::uint32_t project_id, const std::string& path) {
  auto attr = get_fsxattr(fd, path);
  if (!attr) return attr.error();
  const bool inherit_ok = !is_dir || (attr->fsx_xflags & FS_XFLAG_PROJINHERIT) != 0;
  if (attr->fsx_projid == project_id && inherit_ok) return false;
  attr->fsx_projid = project_id;
  if (is_dir) attr->fsx_xflags |= FS_XFLAG_PROJINHERIT;
  if (::ioctl(fd, FS_IOC_FSSETXATTR, &*attr) != 0) {
    const int e = errno;
    std::string why = std::strerror(e);
    if (e == EOPNOTSUPP || e == ENOTTY) {
      why =
          "the filesystem does not support project ids (ext4 needs the project feature: "
          "tune2fs -O project)";
    } else if (e == EPERM) {
      why = "not permitted (needs CAP_FOWNER or the file's owner, in the initial user namespace)";
    }
    return Error{
        fmt::format("setting project id {} on {} (FS_IOC_FSSETXATTR): {}", project_id, path, why)};
  }
  return true;
}

// Tags everything below the directory `dir` on device `dev`.
Expected<void> tag_tree(Fd dir, const std::string& dir_path, dev_t dev, std::uint32_t project_id,
                        ProjectTagResult& result, const std::atomic<bool>* stop) {
  DIR* d = ::fdopendir(dir.get());
  if (d == nullptr) {
    return Error{fmt::format("reading directory {}: {}", dir_path, std::strerror(errno))};
  }
  dir.release();  // closedir() closes it now
  struct Closer {
    DIR* d;
    ~Closer() { ::closedir(d); }
  } closer{d};
  const int fd = ::dirfd(d);
  while (true) {
    errno = 0;
    const struct dirent* ent = ::readdir(d);
    if (ent == nullptr) {
      if (errno != 0) {
        return Error{fmt::format("reading directory {}: {}", dir_path, std::strerror(errno))};
      }
      break;
    }
    const std::string_view name = ent->d_name;
    if (name == "." || name == "..") continue;
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) {
      return Error{fmt::format("the walk of {} was stopped", dir_path)};
    }
    const std::string path = fmt::format("{}/{}", dir_path, name);
    struct stat st {};
    if (::fstatat(fd, ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // removed meanwhile
      return Error{fmt::format("stat {}: {}", path, std::strerror(errno))};
    }
    const bool is_dir = S_ISDIR(st.st_mode);
    if ((!is_dir && !S_ISREG(st.st_mode)) || st.st_dev != dev) {
      ++result.skipped;
      continue;
    }
    Fd child(::openat(fd, ent->d_name,
                      O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (is_dir ? O_DIRECTORY : O_NONBLOCK)));
    if (child.get() < 0) {
      if (errno == ENOENT) continue;
      // Replaced by a symbolic link (O_NOFOLLOW) or a directory by a file between the look and
      // the open: not what was looked at, so not tagged.
      if (errno == ELOOP || errno == ENOTDIR) {
        ++result.skipped;
        continue;
      }
      return Error{fmt::format("opening {}: {}", path, std::strerror(errno))};
    }
    // What was opened must be what was looked at: an entry swapped meanwhile (for a FIFO, a
    // device, another file) is skipped, never tagged or descended into.
    struct stat opened {};
    if (::fstat(child.get(), &opened) != 0 || opened.st_ino != st.st_ino ||
        opened.st_dev != st.st_dev || (opened.st_mode & S_IFMT) != (st.st_mode & S_IFMT)) {
      ++result.skipped;
      continue;
    }
    auto changed = tag_fd(child.get(), is_dir, project_id, path);
    if (!changed) return changed.error();
    if (*changed) ++result.changed;
    if (is_dir) {
      auto sub = tag_tree(std::move(child), path, dev, project_id, result, stop);
      if (!sub) return sub;
    }
  }
  return {};
}

}  // namespace

std::string decode_mountinfo_path(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<MountInfo> parse_mountinfo(std::string_view text) {
  std::vector<MountInfo> out;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    // 36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    const auto fields = split_spaces(line);
    std::size_t sep = 0;
    for (std::size_t i = 6; i < fields.size(); ++i) {
      if (fields[i] == "-") {
        sep = i;
        break;
      }
    }
    if (sep == 0 || fields.size() < sep + 3) continue;
    MountInfo m;
    const std::string_view devno = fields[2];
    const auto colon = devno.find(':');
    if (colon == std::string_view::npos || !parse_u32(devno.substr(0, colon), m.major) ||
        !parse_u32(devno.substr(colon + 1), m.minor)) {
      continue;
    }
    m.root = decode_mountinfo_path(fields[3]);
    m.mount_point = decode_mountinfo_path(fields[4]);
    m.options = std::string(fields[5]);
    m.fs_type = std::string(fields[sep + 1]);
    m.source = decode_mountinfo_path(fields[sep + 2]);
    if (fields.size() > sep + 3) m.super_options = std::string(fields[sep + 3]);
    out.push_back(std::move(m));
  }
  return out;
}

std::optional<MountInfo> find_mount(const std::vector<MountInfo>& mounts, std::uint32_t major,
                                    std::uint32_t minor, std::string_view path) {
  const MountInfo* best = nullptr;
  const MountInfo* any = nullptr;
  for (const auto& m : mounts) {
    if (m.major != major || m.minor != minor) continue;
    if (any == nullptr) any = &m;
    if (path_has_prefix(path, m.mount_point) &&
        (best == nullptr || m.mount_point.size() > best->mount_point.size())) {
      best = &m;
    }
  }
  if (best != nullptr) return *best;
  if (any != nullptr) return *any;
  return std::nullopt;
}

QuotaFs quota_fs_of(std::string_view fs_type) {
  if (fs_type == "xfs") return QuotaFs::kXfs;
  if (fs_type == "ext4") return QuotaFs::kExt4;
  return QuotaFs::kOther;
}

std::uint64_t bytes_to_quota_blocks(std::uint64_t bytes, std::uint64_t block_size) {
  if (bytes == 0 || block_size == 0) return 0;
  const std::uint64_t blocks = bytes / block_size;
  return blocks == 0 ? 1 : blocks;
}

Expected<QuotaFilesystem> quota_filesystem(const std::string& path, const std::string& mountinfo) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Error{fmt::format("project quota on {}: {}", path, std::strerror(errno))};
  }
  char* real = ::realpath(path.c_str(), nullptr);
  const std::string canonical = real != nullptr ? real : path;
  std::free(real);
  std::ifstream in(mountinfo);
  if (!in) {
    return Error{fmt::format("project quota on {}: cannot read {}", path, mountinfo)};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const auto mounts = parse_mountinfo(ss.str());
  const auto m = find_mount(mounts, major(st.st_dev), minor(st.st_dev), canonical);
  if (!m) {
    return Error{fmt::format("project quota on {}: no mount with device {}:{} in {}", path,
                             major(st.st_dev), minor(st.st_dev), mountinfo)};
  }
  QuotaFilesystem fs;
  fs.path = path;
  fs.mount_point = m->mount_point;
  fs.fs_type = m->fs_type;
  fs.device = m->source;
  fs.dev = st.st_dev;
  fs.kind = quota_fs_of(m->fs_type);
  if (fs.kind == QuotaFs::kOther) {
    return Error{fmt::format(
        "project quota on {}: the filesystem is {} ({}, mounted at {}): project quotas are "
        "supported on xfs and ext4",
        path, fs.fs_type, fs.device, fs.mount_point)};
  }
  return fs;
}

Expected<ProjectAttr> get_project(const std::string& path) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    return Error{fmt::format("opening {}: {}", path, std::strerror(errno))};
  }
  auto attr = get_fsxattr(fd.get(), path);
  if (!attr) return attr.error();
  return ProjectAttr{attr->fsx_projid, (attr->fsx_xflags & FS_XFLAG_PROJINHERIT) != 0};
}

Expected<ProjectTagResult> set_project(const std::string& path, std::uint32_t project_id,
                                       bool recursive, const std::atomic<bool>* stop) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Error{
        fmt::format("setting project id {} on {}: {}", project_id, path, std::strerror(errno))};
  }
  const bool is_dir = S_ISDIR(st.st_mode);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | (is_dir ? O_DIRECTORY : O_NONBLOCK)));
  if (fd.get() < 0) {
    return Error{fmt::format("opening {}: {}", path, std::strerror(errno))};
  }
  ProjectTagResult result;
  // The tree first, `path` itself last: a walk cut short (a stop, an error) leaves the top
  // untagged, so the next look at it sees a walk is still due.
  if (recursive && is_dir) {
    Fd dup(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
    if (!dup) return Error{fmt::format("opening {}: {}", path, std::strerror(errno))};
    auto tree = tag_tree(std::move(dup), path, st.st_dev, project_id, result, stop);
    if (!tree) return tree.error();
  }
  auto changed = tag_fd(fd.get(), is_dir, project_id, path);
  if (!changed) return changed.error();
  if (*changed) ++result.changed;
  return result;
}

Expected<void> set_project_limit(const QuotaFilesystem& fs, std::uint32_t project_id,
                                 std::uint64_t limit_bytes) {
  int rc = 0;
  if (fs.kind == QuotaFs::kXfs) {
    struct fs_disk_quota d {};
    d.d_version = FS_DQUOT_VERSION;
    d.d_flags = FS_PROJ_QUOTA;
    d.d_fieldmask = FS_DQ_BSOFT | FS_DQ_BHARD;
    d.d_id = project_id;
    d.d_blk_hardlimit = bytes_to_quota_blocks(limit_bytes, kXfsBasicBlock);
    d.d_blk_softlimit = d.d_blk_hardlimit;
    rc = do_quotactl(fs, QCMD(Q_XSETQLIM, PRJQUOTA), project_id, &d);
  } else if (fs.kind == QuotaFs::kExt4) {
    struct dqblk q {};
    q.dqb_bhardlimit = bytes_to_quota_blocks(limit_bytes, kQuotaBlock);
    q.dqb_bsoftlimit = q.dqb_bhardlimit;
    q.dqb_valid = QIF_BLIMITS;
    rc = do_quotactl(fs, QCMD(Q_SETQUOTA, PRJQUOTA), project_id, &q);
  } else {
    return Error{fmt::format("setting the project quota of {} ({}): not xfs or ext4", fs.path,
                             describe(fs))};
  }
  if (rc != 0) {
    const int e = errno;
    return Error{fmt::format("setting the project quota of {} (project {}, {}): {}", fs.path,
                             project_id, describe(fs), quotactl_cause(fs, e))};
  }
  return {};
}

Expected<ProjectQuota> get_project_quota(const QuotaFilesystem& fs, std::uint32_t project_id) {
  ProjectQuota q;
  q.project_id = project_id;
  int rc = 0;
  if (fs.kind == QuotaFs::kXfs) {
    struct fs_disk_quota d {};
    rc = do_quotactl(fs, QCMD(Q_XGETQUOTA, PRJQUOTA), project_id, &d);
    if (rc == 0) {
      q.used_bytes = d.d_bcount * kXfsBasicBlock;
      q.hard_limit_bytes = d.d_blk_hardlimit * kXfsBasicBlock;
      q.soft_limit_bytes = d.d_blk_softlimit * kXfsBasicBlock;
      q.used_inodes = d.d_icount;
    }
  } else if (fs.kind == QuotaFs::kExt4) {
    struct dqblk b {};
    rc = do_quotactl(fs, QCMD(Q_GETQUOTA, PRJQUOTA), project_id, &b);
    if (rc == 0) {
      q.used_bytes = b.dqb_curspace;
      q.hard_limit_bytes = b.dqb_bhardlimit * kQuotaBlock;
      q.soft_limit_bytes = b.dqb_bsoftlimit * kQuotaBlock;
      q.used_inodes = b.dqb_curinodes;
    }
  } else {
    return Error{fmt::format("reading the project quota of {} ({}): not xfs or ext4", fs.path,
                             describe(fs))};
  }
  if (rc != 0) {
    const int e = errno;
    if (e == ENOENT) return q;  // XFS: no record of this project yet (nothing used, no limit)
    return Error{fmt::format("reading the project quota of {} (project {}, {}): {}", fs.path,
                             project_id, describe(fs), quotactl_cause(fs, e))};
  }
  return q;
}

Expected<QuotaApplyResult> apply_project_quota(const std::string& data_dir,
                                               std::uint32_t project_id, std::uint64_t limit_bytes,
                                               QuotaWalk walk) {
  QuotaApplyResult result;
  auto fs = quota_filesystem(data_dir);
  if (!fs) return fs.error();
  result.fs = *fs;
  auto attr = get_project(data_dir);
  if (!attr) {
    return Error{fmt::format("{} ({})", attr.error().message, describe(result.fs))};
  }
  // The whole tree is walked (when asked to) only when the directory itself still carries
  // another id or lacks the inherit flag: the first application, a changed id, a walk cut short.
  // Later calls touch the directory alone.
  const bool untagged = attr->project_id != project_id || !attr->inherit;
  auto tagged = set_project(data_dir, project_id, untagged && walk == QuotaWalk::kWhenUntagged);
  if (!tagged) {
    return Error{fmt::format("{} ({})", tagged.error().message, describe(result.fs))};
  }
  result.tagged = *tagged;
  auto set = set_project_limit(result.fs, project_id, limit_bytes);
  if (!set) return set.error();
  auto quota = get_project_quota(result.fs, project_id);
  if (!quota) return quota.error();
  result.quota = *quota;
  return result;
}

}  // namespace enforcer
