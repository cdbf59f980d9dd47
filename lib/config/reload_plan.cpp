#include "config/reload_plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace enforcer {

std::vector<std::string> assign_ids(std::vector<ExperimentConfig>& experiments,
                                    const std::map<std::string, std::uint32_t>& keep,
                                    std::uint32_t max_id, const std::set<std::uint32_t>& avoid) {
  if (experiments.size() > max_id) {
    return {fmt::format("{} experiments configured, daemon.max_experiments is {}",
                        experiments.size(), max_id)};
  }
  std::vector<std::uint32_t> ids(experiments.size(), 0);
  std::set<std::uint32_t> taken;
  for (std::size_t i = 0; i < experiments.size(); ++i) {
    const auto it = keep.find(experiments[i].name);
    if (it == keep.end() || it->second == 0 || it->second > max_id) continue;
    if (taken.insert(it->second).second) ids[i] = it->second;
  }
  // The free ids, lowest first: those not to avoid, then the others (enough exist in all:
  // experiments.size() <= max_id).
  const auto missing = static_cast<std::size_t>(std::count(ids.begin(), ids.end(), 0u));
  std::vector<std::uint32_t> free_ids;
  std::vector<std::uint32_t> avoided;
  for (std::uint32_t id = 1; id <= max_id && free_ids.size() < missing; ++id) {
    if (taken.count(id)) continue;
    if (avoid.count(id)) {
      if (avoided.size() < missing) avoided.push_back(id);
      continue;
    }
    free_ids.push_back(id);
  }
  free_ids.insert(free_ids.end(), avoided.begin(), avoided.end());
  std::size_t next_free = 0;
  for (auto& id : ids) {
    if (id == 0) id = free_ids.at(next_free++);
  }
  for (std::size_t i = 0; i < experiments.size(); ++i) experiments[i].id = ids[i];
  return {};
}

namespace {

// One section of a configuration as text (format_config of a configuration that has only it).
std::string daemon_text(const Config& c) {
  Config only;
  only.daemon = c.daemon;
  // The host name only chooses drop-ins: what they change is compared where it lands. on_stop is
  // read when the daemon stops, so a reload may change it.
  only.daemon.hostname.clear();
  only.daemon.on_stop = OnStop::kHold;
  return format_config(only);
}

std::string network_text(const Config& c) {
  Config only;
  only.network = c.network;
  return format_config(only);
}

std::string devices_text(const Config& c) {
  Config only;
  only.devices = c.devices;
  for (auto& d : only.devices) d.line = 0;
  return format_config(only);
}

}  // namespace

ReloadPlan plan_reload(const Config& running, Config& next) {
  ReloadPlan plan;
  const char* restart = "; restart enforcerd to apply it";
  if (daemon_text(running) != daemon_text(next)) {
    plan.errors.push_back(
        fmt::format("the [daemon] section differs from the running one{}", restart));
  }
  if (network_text(running) != network_text(next)) {
    plan.errors.push_back(
        fmt::format("the [network] section differs from the running one{}", restart));
  }
  if (devices_text(running) != devices_text(next)) {
    plan.errors.push_back(
        fmt::format("the [[device]] tables differ from the running ones{}", restart));
  }

  std::map<std::string, std::size_t> running_index;
  std::map<std::string, std::uint32_t> keep;
  for (std::size_t i = 0; i < running.experiments.size(); ++i) {
    running_index[running.experiments[i].name] = i;
    keep[running.experiments[i].name] = running.experiments[i].id;
  }
  // The running daemon's maps hold running.daemon.max_experiments ids (a different value in
  // `next` is refused above).
  std::set<std::uint32_t> running_ids;
  for (const auto& x : running.experiments) running_ids.insert(x.id);
  for (auto& e : assign_ids(next.experiments, keep, running.daemon.max_experiments, running_ids)) {
    plan.errors.push_back(std::move(e));
  }

  std::set<std::string> next_names;
  for (std::size_t n = 0; n < next.experiments.size(); ++n) {
    const ExperimentConfig& x = next.experiments[n];
    next_names.insert(x.name);
    const auto it = running_index.find(x.name);
    if (it == running_index.end()) {
      plan.added.push_back(n);
      continue;
    }
    const ExperimentConfig& was = running.experiments[it->second];
    plan.kept.emplace_back(it->second, n);
    if (was.data_dir != x.data_dir) {
      plan.errors.push_back(fmt::format(
          "experiment \"{}\": data_dir changed (\"{}\" -> \"{}\"); a reload does not move a "
          "project quota{}",
          x.name, was.data_dir, x.data_dir, restart));
    } else if (was.project_id != x.project_id) {
      plan.errors.push_back(fmt::format(
          "experiment \"{}\": project_id changed ({} -> {}); a reload does not move a project "
          "quota{} (without an explicit project_id it is daemon.project_id_base + the "
          "experiment's position, which moves when experiments before it are added or removed: "
          "set project_id)",
          x.name, was.project_id, x.project_id, restart));
    }
    if (was.addresses != x.addresses || was.cgroup != x.cgroup) plan.readdressed.push_back(n);
  }
  for (std::size_t r = 0; r < running.experiments.size(); ++r) {
    if (!next_names.count(running.experiments[r].name)) plan.removed.push_back(r);
  }
  return plan;
}

}  // namespace enforcer
