// PodScanner: walks the cgroup tree for pod cgroups and finds each pod's network namespace and
// addresses (read again after cache_ttl, or while a pod has none).
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

#include "base/fd.hpp"
#include "base/log.hpp"
#include "pods/discovery.hpp"
#include "pods/discovery_paths.hpp"

namespace enforcer {

using namespace discovery_detail;

namespace {

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

}  // namespace

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

}  // namespace enforcer
