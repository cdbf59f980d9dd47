// CgroupWatcher: inotify on the slice levels of the cgroup tree, to tell the daemon "something
// changed, rescan" (it never says what).
#include <fmt/format.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

#include "pods/discovery.hpp"
#include "pods/discovery_paths.hpp"

namespace enforcer {

using namespace discovery_detail;

namespace {
constexpr std::uint32_t kWatchMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                                     IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW;
}  // namespace

CgroupWatcher::CgroupWatcher(int fd, std::string root, int max_depth)
    : fd_(fd), root_(std::move(root)), max_depth_(max_depth) {}

CgroupWatcher::CgroupWatcher(CgroupWatcher&& o) noexcept
    : fd_(std::move(o.fd_)),
      root_(std::move(o.root_)),
      max_depth_(o.max_depth_),
      paths_(std::move(o.paths_)),
      root_gone_(o.root_gone_) {
  o.paths_.clear();
}

CgroupWatcher& CgroupWatcher::operator=(CgroupWatcher&& o) noexcept {
  if (this != &o) {
    fd_ = std::move(o.fd_);  // closing the old descriptor frees its watches
    root_ = std::move(o.root_);
    max_depth_ = o.max_depth_;
    paths_ = std::move(o.paths_);
    o.paths_.clear();
    root_gone_ = o.root_gone_;
  }
  return *this;
}

CgroupWatcher::~CgroupWatcher() = default;  // closing fd_ frees every watch

Expected<CgroupWatcher> CgroupWatcher::create(std::string root, int max_depth) {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return Error{fmt::format("inotify_init1: {}", std::strerror(errno))};
  CgroupWatcher w(fd, std::move(root), max_depth);
  const int wd = ::inotify_add_watch(fd, w.root_.c_str(), kWatchMask);
  if (wd < 0) {
    return Error{
        fmt::format("cannot watch the cgroup tree at {}: {}", w.root_, std::strerror(errno))};
  }
  w.paths_[wd] = Watch{w.root_, 0};
  std::vector<std::string> children;
  if (list_subdirs(w.root_, children)) {
    for (const auto& c : children) {
      if (!ends_with(c, ".scope") && max_depth > 0) w.add_tree(join(w.root_, c), 1);
    }
  }
  return w;
}

bool CgroupWatcher::add_tree(const std::string& path, int depth) {
  const int wd = ::inotify_add_watch(fd_.get(), path.c_str(), kWatchMask);
  if (wd < 0) return false;  // gone already (or not a directory): its removal was an event too
  paths_[wd] = Watch{path, depth};
  // Below a pod are its containers: their comings and goings show on the pod's own watch.
  if (is_pod_name(basename_of(path)) || depth >= max_depth_) return true;
  std::vector<std::string> children;
  if (!list_subdirs(path, children)) return true;
  for (const auto& c : children) {
    if (!ends_with(c, ".scope")) add_tree(join(path, c), depth + 1);
  }
  return true;
}

void CgroupWatcher::resync() {
  // After a queue overflow (events were lost) or a rename: drop the watches of directories that are
  // gone or replaced (a watch follows an inode, not a name), then add what is missing.
  for (auto it = paths_.begin(); it != paths_.end();) {
    const int wd =
        ::inotify_add_watch(fd_.get(), it->second.path.c_str(), kWatchMask | IN_MASK_ADD);
    if (wd != it->first) {
      // Gone (wd < 0), or the path is another directory now: that one got a new watch, which
      // takes over the path; the old watch is dropped.
      ::inotify_rm_watch(fd_.get(), it->first);
      if (wd >= 0) paths_[wd] = it->second;
      it = paths_.erase(it);
    } else {
      ++it;
    }
  }
  if (!root_gone_) add_tree(root_, 0);
}

bool CgroupWatcher::drain() {
  if (!fd_) return false;
  bool relevant = false;
  alignas(inotify_event) std::array<char, 16 * 1024> buf;
  for (;;) {
    const ssize_t n = ::read(fd_.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // EAGAIN: drained
    }
    if (n == 0) break;
    bool resync_needed = false;
    for (ssize_t off = 0; off + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
      inotify_event ev;
      std::memcpy(&ev, buf.data() + off, sizeof ev);
      const std::string_view name =
          ev.len > 0 ? std::string_view(buf.data() + off + sizeof ev) : std::string_view();
      off += static_cast<ssize_t>(sizeof ev + ev.len);

      if (ev.mask & IN_Q_OVERFLOW) {
        resync_needed = true;
        continue;
      }
      const auto it = paths_.find(ev.wd);
      if (ev.mask & IN_IGNORED) {
        // The kernel dropped the watch (its directory was removed): forget it.
        if (it != paths_.end()) {
          if (it->second.depth == 0) root_gone_ = true;
          paths_.erase(it);
          relevant = true;
        }
        continue;
      }
      if (it == paths_.end()) continue;  // a late event of a watch already forgotten
      if (ev.mask & (IN_DELETE_SELF | IN_UNMOUNT)) {
        if (it->second.depth == 0) root_gone_ = true;
        relevant = true;  // the watch itself ends with IN_IGNORED
        continue;
      }
      if (ev.mask & IN_MOVE_SELF) {
        // A renamed directory (cgroup2 allows it; the kubelet never does it): the paths recorded
        // for it and below it are stale. Rebuild from the paths that exist.
        if (it->second.depth == 0) root_gone_ = true;
        resync_needed = true;
        continue;
      }
      if (!(ev.mask & IN_ISDIR)) continue;  // files (only on test trees; cgroupfs makes none)
      relevant = true;
      if (ev.mask & (IN_MOVED_FROM | IN_MOVED_TO)) {
        resync_needed = true;
      } else if (ev.mask & IN_CREATE) {
        const Watch parent = it->second;
        const std::string child = join(parent.path, name);
        if (!ends_with(name, ".scope") && !is_pod_name(basename_of(parent.path)) &&
            parent.depth < max_depth_) {
          add_tree(child, parent.depth + 1);
        }
      }
      if (ev.mask & IN_DELETE) {
        // cgroup2 (kernfs) never sends IN_DELETE_SELF or IN_IGNORED for a removed directory:
        // the watch would pin its inode for as long as the fd lives. Remove it (and any below)
        // here. On other filesystems IN_IGNORED came first and this finds nothing. A directory
        // of the same name made again later has its IN_CREATE further on in the queue.
        forget_tree(join(it->second.path, name));
      }
    }
    if (resync_needed) {
      resync();
      relevant = true;
    }
  }
  // The root removed: kernfs does not say so on the root's own watch (see above); its children's
  // removals were events on it, which is how we got here.
  if (relevant && !root_gone_ && ::access(root_.c_str(), F_OK) != 0 && errno == ENOENT) {
    root_gone_ = true;
    forget_tree(root_);
  }
  return relevant;
}

void CgroupWatcher::forget_tree(const std::string& path) {
  const std::string below = path + "/";
  for (auto it = paths_.begin(); it != paths_.end();) {
    if (it->second.path == path || starts_with(it->second.path, below)) {
      ::inotify_rm_watch(fd_.get(), it->first);  // its IN_IGNORED is then a late event: skipped
      it = paths_.erase(it);
    } else {
      ++it;
    }
  }
}

Expected<std::size_t> CgroupWatcher::kernel_watch_count() const {
  std::ifstream in(fmt::format("/proc/self/fdinfo/{}", fd_.get()));
  if (!in) return Error{fmt::format("cannot read /proc/self/fdinfo/{}", fd_.get())};
  std::size_t count = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (starts_with(line, "inotify wd:")) ++count;
  }
  return count;
}

}  // namespace enforcer
