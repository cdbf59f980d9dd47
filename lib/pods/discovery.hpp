// Experiment discovery: which pod cgroup belongs to which experiment.
//
//   scan    walks the cgroup v2 tree below a root (kubepods.slice) and, for each pod cgroup, finds
//           the network namespace of its processes and the addresses configured in it.
//   match   maps experiments (configured addresses, or a cgroup glob for host-network ones) to
//           the pods scan found, resolving conflicts with warnings.
//   CgroupWatcher  inotify on the slice levels of the tree: "something changed, rescan".
//
// A pod cgroup is a directory whose name matches `*-pod*.slice` (kubelet with the systemd cgroup
// driver: kubepods-<qos>-pod<uid>.slice, or kubepods-pod<uid>.slice for Guaranteed pods),
// `pod*` (the cgroupfs driver: kubepods/<qos>/pod<uid>), or any directory that has a container
// scope as a child (`cri-containerd-*.scope`, `crio-*.scope`, `docker-*.scope`). The walk does not
// look for pods below a pod, and never descends into `*.scope` directories for pods.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "base/address.hpp"
#include "base/expected.hpp"
#include "base/fd.hpp"

namespace enforcer {

// A network namespace: the device and inode of its nsfs file (/proc/PID/ns/net).
struct NetnsKey {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  auto operator<=>(const NetnsKey&) const = default;
};

struct PodInfo {
  std::string path;               // absolute path of the pod's cgroup directory
  std::string relative;           // relative to cgroup_root, no leading '/' (what globs match)
  std::uint64_t cgroup_id = 0;    // the directory's inode number: on cgroup2 the cgroup id, which
                                  // only grows (64-bit, never reused), so larger = created later
  std::optional<NetnsKey> netns;  // none: no process in the pod (yet)
  bool host_network = false;      // its processes share the daemon's network namespace
  std::vector<Prefix> addresses;  // global and site scope addresses of that namespace (each a
                                  // full-length prefix), sorted; empty for host-network pods
};

// --- The pure parts -------------------------------------------------------------------------

// True for a directory name the walk treats as a pod by its name (`*-pod*.slice`, `pod*`).
bool is_pod_name(std::string_view name);
// True for a container scope's name (`cri-containerd-*.scope`, `crio-*.scope`, `docker-*.scope`).
bool is_container_scope_name(std::string_view name);

// fnmatch(3) with FNM_PATHNAME ('*' and '?' never match '/') of a glob relative to cgroup_root
// against a pod's relative path. Leading '/' of either is ignored.
bool cgroup_glob_matches(std::string_view glob, std::string_view relative);

// `path` relative to `cgroup_root` without a leading '/'; a path outside cgroup_root comes back
// whole, without its leading '/'.
std::string relative_cgroup_path(std::string_view cgroup_root, std::string_view path);

// Where the walk starts by default: cgroup_root/kubepods.slice (systemd driver), or
// cgroup_root/kubepods (cgroupfs driver) when only that exists.
std::string default_scan_root(std::string_view cgroup_root);

struct ExperimentSpec {
  std::string name;
  std::vector<Prefix> addresses;           // a pod whose namespace holds one of them is this one's
  std::optional<std::string> cgroup_glob;  // relative to cgroup_root (host-network experiments)
  std::uint64_t held_cgroup_id = 0;        // the pod its limits are on now (0: none)
};

enum class MatchKind { kAddress, kGlob };

struct PodClaim {
  std::size_t pod = 0;  // index into the pods given to match()
  MatchKind by = MatchKind::kAddress;
};

struct ExperimentMatch {
  std::string name;
  std::optional<PodClaim> chosen;     // the pod this experiment's limits go to
  std::vector<PodClaim> passed_over;  // other pods it matched, not chosen
  // Pods it matched that do not get its limits (passed over, or given to another experiment):
  // each one a conflict for an operator to look at.
  std::size_t conflicts = 0;
};

struct MatchResult {
  std::vector<ExperimentMatch> experiments;  // one per ExperimentSpec, in the same order
  std::vector<std::string> warnings;         // conflicts, one line each (match() does not log)
};

// Maps experiments to pods. A pod matches an experiment when one of the pod's addresses lies in
// one of the experiment's prefixes (exact containment), or when the experiment's glob matches the
// pod's relative path, unless the pod holds an address of any experiment: a glob (a guess about
// names) never claims the pod of an experiment known by its addresses. Conflicts are warnings and
// counted in `conflicts`, never errors:
//  - a pod claimed by several experiments goes to one of them: an address match beats a glob
//    match; between equals, the experiment listed first wins. The others do not get that pod.
//  - an experiment that matches several pods keeps the one it holds (`held_cgroup_id`), so a pod
//    that adds another experiment's address to its namespace cannot take that experiment's
//    limits away from it; one that holds none gets the newest (the largest cgroup id). An address
//    match beats a glob match here too. The rest are in `passed_over`.
MatchResult match(std::span<const ExperimentSpec> experiments, std::span<const PodInfo> pods);

// Logs (log_warning) the warnings of a match that were not in the previous call's, so a conflict
// that persists over many rescans is logged once. Returns how many lines it logged.
class ConflictLog {
 public:
  std::size_t report(const std::vector<std::string>& warnings);

 private:
  std::vector<std::string> previous_;
};

// --- The kernel-facing parts -----------------------------------------------------------------

// The global/site-scope addresses of the network namespace `netns_fd` refers to (an open
// /proc/PID/ns/net or /run/netns/NAME). A short-lived thread enters the namespace with
// setns(CLONE_NEWNET) and opens an rtnetlink socket there; it exits at once, and the RTM_GETADDR
// dump (IPv4 and IPv6) then runs on that socket from the calling thread (a socket stays in the
// namespace it was created in). setns changes the namespace of the calling thread only (each
// thread has its own nsproxy), so the daemon's other threads never leave their namespace. Needs
// CAP_SYS_ADMIN.
Expected<std::vector<Prefix>> netns_addresses(int netns_fd);

struct ScanOptions {
  std::string cgroup_root = "/sys/fs/cgroup";  // relative paths (and globs) start here
  std::string root;                            // where the walk starts; empty: default_scan_root
  std::string proc = "/proc";                  // procfs (of the daemon's pid namespace)
  int max_depth = 4;                           // levels below root searched for pods
  // How long the addresses read from a (pod, namespace) pair are trusted. A pair whose namespace
  // had no address is read again at every scan (CNI adds the interface after the sandbox starts).
  std::chrono::seconds cache_ttl{60};
};

class PodScanner {
 public:
  explicit PodScanner(ScanOptions options);

  // Walks the tree. Directories and processes that vanish during the walk are skipped (they are
  // ordinary: pods come and go). An error only when the root itself cannot be read.
  Expected<std::vector<PodInfo>> scan();

  // True when the last scan found pods without processes, or whose namespace had no address yet:
  // nothing in the cgroup tree will announce their completion, so scan again at the next tick.
  bool incomplete() const { return incomplete_; }
  // How many namespaces have had their addresses read (cache misses), in total.
  std::uint64_t netns_reads() const { return netns_reads_; }
  std::size_t cache_size() const { return cache_.size(); }
  const ScanOptions& options() const { return options_; }

 private:
  struct CacheEntry {
    std::vector<Prefix> addresses;
    std::chrono::steady_clock::time_point read_at;
    bool seen = false;  // in the current scan
  };
  // (pod cgroup id, namespace): nsfs inode numbers are reused soon after a namespace is freed,
  // cgroup ids never, so a recreated pod is always read afresh.
  using CacheKey = std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>;

  void walk(const std::string& dir, int depth, std::vector<PodInfo>& pods);
  void inspect_pod(PodInfo& pod);
  std::optional<NetnsKey> read_own_netns() const;

  ScanOptions options_;
  std::map<CacheKey, CacheEntry> cache_;
  std::optional<NetnsKey> own_netns_;  // the daemon's: pods in it are host-network pods
  std::uint64_t netns_reads_ = 0;
  bool incomplete_ = false;
};

// inotify on the root and on every slice level below it (directories that are neither pods'
// children nor `*.scope`): pods and containers appearing or vanishing. It only says "something
// changed, rescan". On cgroup2 (kernfs) a removed directory's own watch gets neither
// IN_DELETE_SELF nor IN_IGNORED (measured on 6.18): its watch is removed when its parent reports
// IN_DELETE, or the watch and the inode it pins would stay until the fd is closed. The fd is
// non-blocking; the daemon waits for it to be readable (e.g. an Asio posix::stream_descriptor's
// async_wait(wait_read); release() it before the watcher goes) and calls drain(). New directories
// get their watches during drain(), so after a drain that returned true a rescan sees everything
// created before it, and anything created later raises an event.
class CgroupWatcher {
 public:
  static Expected<CgroupWatcher> create(std::string root, int max_depth = 4);
  CgroupWatcher(CgroupWatcher&& other) noexcept;
  CgroupWatcher& operator=(CgroupWatcher&& other) noexcept;
  CgroupWatcher(const CgroupWatcher&) = delete;
  CgroupWatcher& operator=(const CgroupWatcher&) = delete;
  ~CgroupWatcher();

  int fd() const { return fd_.get(); }
  // Reads every pending event without blocking: adds watches for new directories (and what they
  // already contain), forgets the watches of removed ones. True when anything relevant happened
  // (a directory created or removed, a queue overflow, the root gone).
  bool drain();
  // The watches held (our bookkeeping), and as the kernel counts them (/proc/self/fdinfo).
  std::size_t watch_count() const { return paths_.size(); }
  Expected<std::size_t> kernel_watch_count() const;
  // The root itself was removed: nothing is watched any more; make a new watcher when it is back.
  bool root_gone() const { return root_gone_; }
  const std::string& root() const { return root_; }

 private:
  CgroupWatcher(int fd, std::string root, int max_depth);
  struct Watch {
    std::string path;
    int depth = 0;
  };
  // Adds a watch on `path` and on the directories below it that are watched; returns false when
  // `path` is gone.
  bool add_tree(const std::string& path, int depth);
  void resync();
  // Removes the watches of `path` and of every directory below it.
  void forget_tree(const std::string& path);

  Fd fd_;
  std::string root_;
  int max_depth_ = 4;
  std::map<int, Watch> paths_;  // wd -> watched directory
  bool root_gone_ = false;
};

}  // namespace enforcer
