#include "lifecycle/restore.hpp"

#include <map>
#include <memory>
#include <utility>

#include "base/log.hpp"
#include "config/reload_plan.hpp"

namespace enforcer {

Expected<void> restore_experiments(Datapath& datapath, ExperimentTable& table, Config& config,
                                   const RestoreInput& input) {
  const WindowSnapshot* snap = input.snapshot;
  if (datapath.adopted() && !snap) {
    log_warning(
        "no window snapshot in {}: the adopted counters cannot be told apart by experiment, so "
        "every experiment starts with zeroed counters and an empty window",
        config.daemon.state_dir);
  }

  // Ids: each experiment the snapshot knows keeps the id it had (a reload may have moved it away
  // from its position), so that adopted counters stay its own; the others take free ids.
  if (snap) {
    std::map<std::string, std::uint32_t> keep;
    for (const auto& e : snap->experiments) keep[e.name] = e.id;
    for (const auto& e : assign_ids(config.experiments, keep, config.daemon.max_experiments)) {
      return Error{e};
    }
  }
  ExperimentList list;
  for (const auto& x : config.experiments) {
    const std::uint32_t id = x.id;
    const auto slots = static_cast<std::uint32_t>(x.allocation.window / config.daemon.tick);
    // An adopted id keeps its counters only while it is still the same experiment's (the
    // snapshot's id -> name table says so).
    RestoredExperiment restored;
    if (snap) restored = match_experiment(*snap, x.name, config.daemon.tick, slots);
    const bool keep = datapath.adopted() && restored.from && restored.from->id == id;
    auto r =
        keep ? datapath.keep_experiment(id, x.addresses) : datapath.add_experiment(id, x.addresses);
    if (!r) return Error{fmt::format("experiment \"{}\": {}", x.name, r.error().message)};
    auto state = std::make_shared<ExperimentState>(id, x, slots);
    if (restored.from) {
      const ExperimentSnapshot& from = *restored.from;
      constexpr auto kRelaxed = std::memory_order_relaxed;
      for (Direction d : kDirections) {
        DirectionState& s = state->direction[d];
        const DirectionSnapshot& f = from.direction[d];
        s.bytes_total.store(f.bytes_total, kRelaxed);
        s.packets_total.store(f.packets_total, kRelaxed);
        s.dropped_bytes_total.store(f.dropped_bytes_total, kRelaxed);
        s.dropped_packets_total.store(f.dropped_packets_total, kRelaxed);
        if (restored.windows) {
          const ShiftedWindow w = shift_window(f, slots, input.elapsed_ticks);
          s.window.restore(input.first_tick, w.newest_first, w.filled);
        }
      }
      // Kept counters: the first sample's delta is what moved since the snapshot (the traffic
      // of the restart included) and lands in the newest slot. Fresh or zeroed counters start
      // from 0, so does their baseline.
      if (keep) state->last_raw = from.raw;
      log_info("experiment {}: resumed from {} ({} ticks old): totals{}{}{}", x.name,
               input.snapshot_path, input.elapsed_ticks, restored.windows ? " and window" : "",
               keep ? ", datapath counters kept" : "",
               restored.note.empty() ? "" : fmt::format(" ({})", restored.note));
    } else if (snap || datapath.adopted()) {
      log_info("experiment {}: starts with an empty window ({})", x.name,
               snap ? restored.note : "no snapshot");
    }
    list.push_back(std::move(state));
  }
  if (datapath.adopted()) {
    if (const std::size_t n = datapath.prune_addresses(); n > 0) {
      log_info("removed {} address(es) of experiments no longer configured", n);
    }
  }
  table.publish(std::move(list));
  return {};
}

}  // namespace enforcer
