#include "lifecycle/experiment_changes.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/log.hpp"

namespace enforcer {

namespace {

using Key = std::pair<bool, std::array<std::uint8_t, 17>>;  // v6, bytes + length

Key key(const Prefix& p) {
  Key k{p.v6, {}};
  std::copy(p.bytes.begin(), p.bytes.end(), k.second.begin());
  k.second[16] = p.length;
  return k;
}

std::set<Key> keys_of(const Config& c) {
  std::set<Key> keys;
  for (const auto& x : c.experiments) {
    for (const auto& p : x.addresses) keys.insert(key(p));
  }
  return keys;
}

std::vector<Prefix> not_in(const std::vector<Prefix>& from, const std::set<Key>& keys) {
  std::vector<Prefix> out;
  for (const auto& p : from) {
    if (!keys.count(key(p))) out.push_back(p);
  }
  return out;
}

}  // namespace

bool changes_experiments(const ReloadPlan& plan) {
  return !plan.added.empty() || !plan.removed.empty() || !plan.readdressed.empty();
}

Expected<void> change_experiments(Datapath& datapath, ExperimentTable& table, const Config& running,
                                  const Config& next, const ReloadPlan& plan) {
  const std::set<Key> old_keys = keys_of(running);
  const std::set<Key> new_keys = keys_of(next);
  std::set<std::uint32_t> old_ids;
  for (const auto& x : running.experiments) old_ids.insert(x.id);

  // 1. Addresses no experiment has any more stop being attributed (those of removed
  // experiments, and those kept experiments dropped). Addresses that move to another
  // experiment are simply overwritten below (never unattributed in between).
  std::vector<Prefix> stale;
  for (const auto& x : running.experiments) {
    for (const auto& p : not_in(x.addresses, new_keys)) stale.push_back(p);
  }
  // What an undo has to restore: the running experiments' addresses, as they were.
  std::vector<std::size_t> added_done;
  auto undo = [&](const std::string& what) -> Error {
    std::vector<std::string> problems;
    for (std::size_t n : added_done) {
      const ExperimentConfig& x = next.experiments[n];
      if (old_ids.count(x.id)) {
        // (Only when max_experiments left no other id:) the id was a removed experiment's,
        // which runs on: its counters were zeroed, the limiter pushes its limit again and the
        // sampler starts from 0.
        if (auto r = datapath.remove_addresses(not_in(x.addresses, old_keys)); !r) {
          problems.push_back(r.error().message);
        }
        for (const auto& st : *table.snapshot()) {
          if (st->id != x.id) continue;
          st->last_raw = CounterSample{};
          st->limit_pushed = false;
        }
        continue;
      }
      if (auto r = datapath.remove_experiment(x.id, not_in(x.addresses, old_keys)); !r) {
        problems.push_back(r.error().message);
      }
    }
    for (const auto& x : next.experiments) {
      if (auto r = datapath.remove_addresses(not_in(x.addresses, old_keys)); !r) {
        problems.push_back(r.error().message);
      }
    }
    for (const auto& x : running.experiments) {
      if (auto r = datapath.keep_experiment(x.id, x.addresses); !r) {
        problems.push_back(fmt::format("experiment \"{}\": {}", x.name, r.error().message));
      }
    }
    if (problems.empty()) {
      return Error{fmt::format(
          "{}; the reload was undone ({} experiment(s) it had added removed again, every address "
          "as before): still enforcing the previous configuration",
          what, added_done.size())};
    }
    std::string all;
    for (const auto& p : problems) all += "\n  " + p;
    return Error{fmt::format(
        "{}; undoing the reload failed in part, the previous configuration's experiments are "
        "enforced but these datapath entries may be off:{}",
        what, all)};
  };
  if (auto r = datapath.remove_addresses(stale); !r) return undo(r.error().message);

  // 2. New experiments: zeroed counters and rate state, their addresses.
  for (std::size_t n : plan.added) {
    const ExperimentConfig& x = next.experiments[n];
    added_done.push_back(n);  // an undo also clears what a failed add wrote
    if (auto r = datapath.add_experiment(x.id, x.addresses); !r) {
      return undo(fmt::format("experiment \"{}\" (id {}): {}", x.name, x.id, r.error().message));
    }
  }
  // 3. Kept experiments' new addresses (counters, limit and rate state stay).
  for (std::size_t n : plan.readdressed) {
    const ExperimentConfig& x = next.experiments[n];
    if (auto r = datapath.keep_experiment(x.id, x.addresses); !r) {
      return undo(fmt::format("experiment \"{}\": {}", x.name, r.error().message));
    }
  }

  // Done in the datapath: from here on nothing is undone. The table: kept experiments keep their
  // state (window, totals, counters' baseline, limit), new ones start empty from zeroed counters.
  std::map<std::string, std::shared_ptr<ExperimentState>> states;
  for (const auto& st : *table.snapshot()) states[st->name] = st;
  ExperimentList list;
  const std::set<std::size_t> added(plan.added.begin(), plan.added.end());
  for (std::size_t n = 0; n < next.experiments.size(); ++n) {
    const ExperimentConfig& x = next.experiments[n];
    if (!added.count(n)) {
      list.push_back(states.at(x.name));
      continue;
    }
    const auto slots = static_cast<std::uint32_t>(x.allocation.window / running.daemon.tick);
    list.push_back(std::make_shared<ExperimentState>(x.id, x, slots));
  }
  table.publish(std::move(list));
  return {};
}

void retire_experiments(Datapath& datapath, const Config& running, const Config& next,
                        const ReloadPlan& plan) {
  // Their addresses went in change_experiments. Counters and rate state are zeroed so that an id
  // used again starts from 0.
  std::set<std::uint32_t> reused;
  for (std::size_t n : plan.added) reused.insert(next.experiments[n].id);
  for (std::size_t r : plan.removed) {
    const ExperimentConfig& x = running.experiments[r];
    if (reused.count(x.id)) {
      datapath.detach_cgroups(x.id);
      continue;  // zeroed when it was added again
    }
    if (auto e = datapath.remove_experiment(x.id, {}); !e) {
      log_error("experiment {} (removed): {}", x.name, e.error().message);
    }
  }
}

}  // namespace enforcer
