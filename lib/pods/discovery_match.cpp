// Which pod is whose: what a pod cgroup's name looks like, cgroup paths and globs, match() (no I/O)
// and the log of its conflicts.
#include <fmt/format.h>
#include <fnmatch.h>

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "base/log.hpp"
#include "pods/discovery.hpp"
#include "pods/discovery_paths.hpp"

namespace enforcer {

using namespace discovery_detail;

namespace {

bool contains(const Prefix& prefix, const Prefix& address) {
  return prefix.v6 == address.v6 && prefix.length <= address.length && overlaps(prefix, address);
}

}  // namespace

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

}  // namespace enforcer
