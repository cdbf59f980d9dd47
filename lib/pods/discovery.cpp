#include "pods/discovery.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fnmatch.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "base/fd.hpp"
#include "base/log.hpp"
#include "base/netlink.hpp"

namespace enforcer {

namespace {

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

std::string_view strip_leading_slashes(std::string_view s) {
  while (!s.empty() && s.front() == '/') s.remove_prefix(1);
  return s;
}

std::string_view basename_of(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string join(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

// The subdirectories of `dir`, sorted (so scans are deterministic). False when `dir` cannot be
// opened (errno is left set).
bool list_subdirs(const std::string& dir, std::vector<std::string>& out) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return false;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st {};
      is_dir =
          ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    if (is_dir) out.emplace_back(name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return true;
}

bool has_container_scope(const std::string& dir) {
  std::vector<std::string> children;
  if (!list_subdirs(dir, children)) return false;
  return std::any_of(children.begin(), children.end(),
                     [](const std::string& c) { return is_container_scope_name(c); });
}

// The pids listed in a cgroup.procs file (empty when it is gone or empty).
std::vector<pid_t> read_procs(const std::string& dir) {
  std::vector<pid_t> pids;
  std::ifstream in(join(dir, "cgroup.procs"));
  long pid = 0;
  while (in >> pid) {
    if (pid > 0) pids.push_back(static_cast<pid_t>(pid));
  }
  return pids;
}

bool contains(const Prefix& prefix, const Prefix& address) {
  return prefix.v6 == address.v6 && prefix.length <= address.length && overlaps(prefix, address);
}

// A netlink socket created in the namespace `netns_fd` refers to. The thread that creates it
// enters the namespace and ends; the socket stays in the namespace it was created in.
Expected<Fd> netlink_socket_in(int netns_fd) {
  int sock = -1;
  int err = 0;
  const char* what = "";
  try {
    std::thread t([&] {
      // setns(CLONE_NEWNET) switches this thread's namespace only (per-thread nsproxy); the
      // thread ends right after, and no other thread of the process ever sees the change.
      if (::setns(netns_fd, CLONE_NEWNET) != 0) {
        err = errno;
        what = "setns(CLONE_NEWNET)";
        return;
      }
      sock = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
      if (sock < 0) {
        err = errno;
        what = "rtnetlink socket";
      }
    });
    t.join();
  } catch (const std::system_error& e) {
    return Error{fmt::format("cannot start a thread to enter the namespace: {}", e.what())};
  }
  if (sock < 0) return Error{fmt::format("{}: {}", what, std::strerror(err))};
  return Fd(sock);
}

Expected<std::vector<Prefix>> dump_addresses(int sock) {
  const timeval timeout{2, 0};  // the kernel answers at once; never hang the daemon's loop
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (::bind(sock, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
    return Error{fmt::format("rtnetlink bind: {}", std::strerror(errno))};
  }
  ifaddrmsg request{};
  request.ifa_family = AF_UNSPEC;  // IPv4 and IPv6
  std::vector<Prefix> out;
  const auto dumped = netlink_dump(
      sock,
      NetlinkDumpRequest{"RTM_GETADDR dump", RTM_GETADDR,
                         std::span(reinterpret_cast<const char*>(&request), sizeof request)},
      [&] { out.clear(); },
      [&](const NetlinkMessage& m) -> Expected<void> {
        if (m.header.nlmsg_type == RTM_NEWADDR &&
            !parse_address_dump(m.bytes.data(), m.bytes.size(), out)) {
          return Error{"malformed RTM_NEWADDR"};
        }
        return {};
      });
  if (!dumped) return dumped.error();
  std::sort(out.begin(), out.end(), [](const Prefix& a, const Prefix& b) {
    return std::tie(a.v6, a.bytes) < std::tie(b.v6, b.bytes);
  });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

// --- pure parts -------------------------------------------------------------------------------

bool is_pod_name(std::string_view name) {
  if (ends_with(name, ".slice")) {
    const auto at = name.find("-pod");
    return at != std::string_view::npos && at + 4 < name.size() - 6;  // something after "-pod"
  }
  return starts_with(name, "pod") && name.size() > 3 && name.find('.') == std::string_view::npos;
}

bool is_container_scope_name(std::string_view name) {
  if (!ends_with(name, ".scope")) return false;
  return starts_with(name, "cri-containerd-") || starts_with(name, "crio-") ||
         starts_with(name, "docker-");
}

bool cgroup_glob_matches(std::string_view glob, std::string_view relative) {
  const std::string g(strip_leading_slashes(glob));
  const std::string r(strip_leading_slashes(relative));
  return ::fnmatch(g.c_str(), r.c_str(), FNM_PATHNAME) == 0;
}

std::string relative_cgroup_path(std::string_view cgroup_root, std::string_view path) {
  while (cgroup_root.size() > 1 && cgroup_root.back() == '/') cgroup_root.remove_suffix(1);
  if (starts_with(path, cgroup_root) && (path.size() == cgroup_root.size() ||
                                         path[cgroup_root.size()] == '/' || cgroup_root == "/")) {
    path.remove_prefix(cgroup_root.size());
  }
  return std::string(strip_leading_slashes(path));
}

std::string default_scan_root(std::string_view cgroup_root) {
  const std::string systemd = join(cgroup_root, "kubepods.slice");
  const std::string cgroupfs = join(cgroup_root, "kubepods");
  struct stat st {};
  if (::stat(systemd.c_str(), &st) != 0 && ::stat(cgroupfs.c_str(), &st) == 0 &&
      S_ISDIR(st.st_mode)) {
    return cgroupfs;
  }
  return systemd;
}

bool parse_address_dump(const void* data, std::size_t size, std::vector<Prefix>& out) {
  const char* p = static_cast<const char*>(data);
  while (size >= sizeof(nlmsghdr)) {
    nlmsghdr nh;
    std::memcpy(&nh, p, sizeof nh);
    if (nh.nlmsg_len < sizeof(nlmsghdr) || nh.nlmsg_len > size) return false;
    if (nh.nlmsg_type == RTM_NEWADDR) {
      if (nh.nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg))) return false;
      ifaddrmsg ifa;
      std::memcpy(&ifa, p + NLMSG_HDRLEN, sizeof ifa);
      const bool v6 = ifa.ifa_family == AF_INET6;
      const std::size_t alen = v6 ? 16 : 4;
      const bool wanted = (ifa.ifa_family == AF_INET || v6) &&
                          (ifa.ifa_scope == RT_SCOPE_UNIVERSE || ifa.ifa_scope == RT_SCOPE_SITE);
      const char* local = nullptr;
      const char* address = nullptr;
      std::size_t off = NLMSG_LENGTH(sizeof(ifaddrmsg));
      off = NLMSG_ALIGN(off);
      while (off + sizeof(rtattr) <= nh.nlmsg_len) {
        rtattr rta;
        std::memcpy(&rta, p + off, sizeof rta);
        if (rta.rta_len < sizeof(rtattr) || off + rta.rta_len > nh.nlmsg_len) return false;
        const std::size_t payload = rta.rta_len - RTA_LENGTH(0);
        const char* value = p + off + RTA_LENGTH(0);
        if (rta.rta_type == IFA_LOCAL && payload >= alen) local = value;
        if (rta.rta_type == IFA_ADDRESS && payload >= alen) address = value;
        off += RTA_ALIGN(rta.rta_len);
      }
      const char* a = local != nullptr ? local : address;
      if (wanted && a != nullptr) {
        Prefix prefix;
        prefix.v6 = v6;
        prefix.length = v6 ? 128 : 32;
        std::memcpy(prefix.bytes.data(), a, alen);
        out.push_back(prefix);
      }
    }
    const std::size_t step = NLMSG_ALIGN(nh.nlmsg_len);
    if (step >= size) break;
    p += step;
    size -= step;
  }
  return true;
}

namespace {

// The experiments' cgroup globs, prepared once per match(): a glob without wildcards (what a
// config names for one pod) is looked up by its path, and only real patterns go through fnmatch.
// match() runs at every rescan, with every experiment against every pod: with 1,000 experiments
// and 500 pods, a glob test of each pair was half a million fnmatch calls (and twice as many
// string copies) per rescan.
class GlobIndex {
 public:
  explicit GlobIndex(std::span<const ExperimentSpec> experiments) {
    for (std::size_t e = 0; e < experiments.size(); ++e) {
      if (!experiments[e].cgroup_glob) continue;
      std::string glob(strip_leading_slashes(*experiments[e].cgroup_glob));
      if (glob.find_first_of("*?[\\") == std::string::npos) {
        literal_[glob].push_back(e);
      } else {
        patterns_.emplace_back(e, std::move(glob));
      }
    }
  }

  // The experiments whose glob matches the pod cgroup at `relative`, in config order.
  std::vector<std::size_t> matching(std::string_view relative) const {
    std::vector<std::size_t> out;
    const std::string r(strip_leading_slashes(relative));
    if (auto it = literal_.find(r); it != literal_.end()) out = it->second;
    for (const auto& [e, glob] : patterns_) {
      if (::fnmatch(glob.c_str(), r.c_str(), FNM_PATHNAME) == 0) out.push_back(e);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::unordered_map<std::string, std::vector<std::size_t>> literal_;
  std::vector<std::pair<std::size_t, std::string>> patterns_;
};

}  // namespace

MatchResult match(std::span<const ExperimentSpec> experiments, std::span<const PodInfo> pods) {
  MatchResult result;
  for (const auto& e : experiments) result.experiments.push_back(ExperimentMatch{e.name, {}, {}});
  const GlobIndex globs(experiments);

  struct Candidate {
    std::size_t experiment;
    MatchKind by;
    std::string why;
  };
  // Each pod's claimants, then the winner's claim recorded on the experiment.
  std::vector<std::vector<PodClaim>> won(experiments.size());
  for (std::size_t p = 0; p < pods.size(); ++p) {
    const PodInfo& pod = pods[p];
    // In config order; an experiment that claims the pod by address does not claim it by glob.
    std::vector<Candidate> candidates;
    if (!pod.host_network && !pod.addresses.empty()) {
      for (std::size_t e = 0; e < experiments.size(); ++e) {
        for (const Prefix& a : pod.addresses) {
          const auto& mine = experiments[e].addresses;
          if (std::any_of(mine.begin(), mine.end(),
                          [&](const Prefix& x) { return contains(x, a); })) {
            candidates.push_back({e, MatchKind::kAddress, fmt::format("address {}", to_string(a))});
            break;
          }
        }
      }
    }
    // The pod of an experiment known by its addresses is nobody's by glob.
    if (candidates.empty()) {
      for (const std::size_t e : globs.matching(pod.relative)) {
        candidates.push_back(
            {e, MatchKind::kGlob, fmt::format("cgroup glob \"{}\"", *experiments[e].cgroup_glob)});
      }
    }
    if (candidates.empty()) continue;
    // Address matches first, then config order (candidates are in config order already).
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const Candidate& a, const Candidate& b) {
                       return a.by == MatchKind::kAddress && b.by != MatchKind::kAddress;
                     });
    const Candidate& winner = candidates.front();
    won[winner.experiment].push_back(PodClaim{p, winner.by});
    for (std::size_t c = 1; c < candidates.size(); ++c) {
      ++result.experiments[candidates[c].experiment].conflicts;
    }
    if (candidates.size() > 1) {
      std::string claims;
      for (const auto& c : candidates) {
        if (!claims.empty()) claims += ", ";
        claims += fmt::format("{} ({})", experiments[c.experiment].name, c.why);
      }
      result.warnings.push_back(fmt::format("pod cgroup {} is claimed by {}: it goes to {}",
                                            pod.relative, claims,
                                            experiments[winner.experiment].name));
    }
  }

  for (std::size_t e = 0; e < experiments.size(); ++e) {
    auto& claims = won[e];
    if (claims.empty()) continue;
    // Best first: address before glob, then the pod it holds, then newest (largest cgroup id),
    // then path.
    const std::uint64_t held = experiments[e].held_cgroup_id;
    std::sort(claims.begin(), claims.end(), [&](const PodClaim& a, const PodClaim& b) {
      const bool aa = a.by == MatchKind::kAddress, ba = b.by == MatchKind::kAddress;
      if (aa != ba) return aa;
      const bool ah = held != 0 && pods[a.pod].cgroup_id == held;
      const bool bh = held != 0 && pods[b.pod].cgroup_id == held;
      if (ah != bh) return ah;
      if (pods[a.pod].cgroup_id != pods[b.pod].cgroup_id) {
        return pods[a.pod].cgroup_id > pods[b.pod].cgroup_id;
      }
      return pods[a.pod].relative > pods[b.pod].relative;
    });
    ExperimentMatch& m = result.experiments[e];
    m.chosen = claims.front();
    m.passed_over.assign(claims.begin() + 1, claims.end());
    m.conflicts += m.passed_over.size();
    if (!m.passed_over.empty()) {
      std::string others;
      for (const auto& c : m.passed_over) {
        if (!others.empty()) others += ", ";
        others += pods[c.pod].relative;
      }
      const bool kept = held != 0 && pods[m.chosen->pod].cgroup_id == held;
      result.warnings.push_back(
          fmt::format("experiment {} matches {} pod cgroups: its limits {} {} ({}{}), not on {}",
                      m.name, claims.size(), kept ? "stay on" : "go to",
                      pods[m.chosen->pod].relative, kept ? "the pod that has them" : "the newest",
                      m.chosen->by == MatchKind::kAddress ? " holding its address" : "", others));
    }
  }
  return result;
}

std::size_t ConflictLog::report(const std::vector<std::string>& warnings) {
  std::size_t logged = 0;
  for (const auto& w : warnings) {
    if (std::find(previous_.begin(), previous_.end(), w) == previous_.end()) {
      log_warning("discovery: {}", w);
      ++logged;
    }
  }
  previous_ = warnings;
  return logged;
}

// --- kernel-facing parts ----------------------------------------------------------------------

Expected<std::vector<Prefix>> netns_addresses(int netns_fd) {
  auto sock = netlink_socket_in(netns_fd);
  if (!sock) return sock.error();
  return dump_addresses(sock->get());
}

PodScanner::PodScanner(ScanOptions options) : options_(std::move(options)) {
  if (options_.root.empty()) options_.root = default_scan_root(options_.cgroup_root);
}

std::optional<NetnsKey> PodScanner::read_own_netns() const {
  struct stat st {};
  if (::stat(join(options_.proc, "self/ns/net").c_str(), &st) != 0) return std::nullopt;
  return NetnsKey{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

Expected<std::vector<PodInfo>> PodScanner::scan() {
  std::vector<std::string> top;
  if (!list_subdirs(options_.root, top)) {
    return Error{
        fmt::format("cannot read the cgroup tree at {}: {}", options_.root, std::strerror(errno))};
  }
  incomplete_ = false;
  own_netns_ = read_own_netns();
  for (auto& [key, entry] : cache_) entry.seen = false;
  std::vector<PodInfo> pods;
  walk(options_.root, 0, pods);
  // Forget the namespaces of pods that are gone (nothing grows with pod churn).
  std::erase_if(cache_, [](const auto& kv) { return !kv.second.seen; });
  return pods;
}

void PodScanner::walk(const std::string& dir, int depth, std::vector<PodInfo>& pods) {
  if (depth >= options_.max_depth) return;
  std::vector<std::string> children;
  if (!list_subdirs(dir, children)) return;  // vanished meanwhile: an ordinary event
  for (const auto& name : children) {
    if (ends_with(name, ".scope")) continue;  // a container outside a pod, or a session
    const std::string path = join(dir, name);
    if (is_pod_name(name) || has_container_scope(path)) {
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0) continue;  // removed meanwhile
      PodInfo pod;
      pod.path = path;
      pod.relative = relative_cgroup_path(options_.cgroup_root, path);
      pod.cgroup_id = static_cast<std::uint64_t>(st.st_ino);
      inspect_pod(pod);
      pods.push_back(std::move(pod));
    } else {
      walk(path, depth + 1, pods);
    }
  }
}

void PodScanner::inspect_pod(PodInfo& pod) {
  // The first process of the pod (its own cgroup.procs, then its containers', depth first) whose
  // namespace can be opened. A process that exits between the read of cgroup.procs and the open is
  // ordinary: take the next one.
  Fd ns;
  std::vector<std::string> dirs{pod.path};
  for (std::size_t i = 0; i < dirs.size() && ns.get() < 0 && i < 256; ++i) {
    for (const pid_t pid : read_procs(dirs[i])) {
      const std::string file = join(options_.proc, fmt::format("{}/ns/net", pid));
      ns = Fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
      if (ns.get() >= 0) break;
    }
    std::vector<std::string> sub;
    if (ns.get() < 0 && list_subdirs(dirs[i], sub)) {
      for (const auto& s : sub) dirs.push_back(join(dirs[i], s));
    }
  }
  if (ns.get() < 0) {
    incomplete_ = true;  // no process yet (or all of them just exited)
    return;
  }
  struct stat st {};
  if (::fstat(ns.get(), &st) != 0) {
    incomplete_ = true;
    return;
  }
  const NetnsKey key{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
  pod.netns = key;
  if (key == own_netns_) {
    pod.host_network = true;  // the host's addresses are nobody's: match these by glob only
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  const CacheKey ck{pod.cgroup_id, key.dev, key.ino};
  if (auto it = cache_.find(ck); it != cache_.end()) {
    it->second.seen = true;
    if (!it->second.addresses.empty() && now - it->second.read_at < options_.cache_ttl) {
      pod.addresses = it->second.addresses;
      return;
    }
  }
  ++netns_reads_;
  auto addresses = netns_addresses(ns.get());
  if (!addresses) {
    log_debug("discovery: addresses of the namespace of pod cgroup {}: {}", pod.relative,
              addresses.error().message);
    incomplete_ = true;
    return;
  }
  pod.addresses = std::move(*addresses);
  if (pod.addresses.empty()) {
    incomplete_ = true;  // CNI has not configured it yet
    cache_.erase(ck);
    return;
  }
  cache_[ck] = CacheEntry{pod.addresses, now, true};
}

// --- CgroupWatcher ----------------------------------------------------------------------------

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
