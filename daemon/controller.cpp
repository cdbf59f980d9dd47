#include "controller.hpp"

#include <unistd.h>

#include <ctime>
#include <unordered_map>

#include "base/log.hpp"
#include "base/time_text.hpp"
#include "control/control_status.hpp"

namespace enforcer {

namespace {

using nlohmann::json;
constexpr auto kRelaxed = std::memory_order_relaxed;

std::string format_time(WallClock::time_point t) {
  return rfc3339_utc(WallClock::to_time_t(t));
}

// The overrides of each experiment, by name, made in one pass.
class OverridesByExperiment {
 public:
  explicit OverridesByExperiment(const std::vector<Override>& all) {
    for (const Override& o : all) by_name_[o.experiment].push_back(o);
  }
  const std::vector<Override>& of(const std::string& experiment) const {
    static const std::vector<Override> none;
    const auto it = by_name_.find(experiment);
    return it == by_name_.end() ? none : it->second;
  }

 private:
  std::unordered_map<std::string, std::vector<Override>> by_name_;
};

bool same_cgroup_allocation(const Allocation& a, const Allocation& b) {
  return a.cpu_cores == b.cpu_cores && a.memory_bytes == b.memory_bytes &&
         a.disk_bytes == b.disk_bytes && a.disk_io_fraction == b.disk_io_fraction;
}

json overrides_json(const std::vector<Override>& list) {
  json out = json::array();
  for (const auto& o : list) out.push_back(override_to_json(o));
  return out;
}

}  // namespace

Controller::Controller(ControllerContext context)
    : ctx_(std::move(context)),
      path_(ctx_.config->daemon.state_dir + "/overrides.json"),
      audit_(ctx_.config->daemon.state_dir + "/audit.log") {
  LoadedOverrides loaded = load_overrides(path_, WallClock::now());
  if (loaded.warning) log_warning("overrides: {}", *loaded.warning);
  set_ = OverrideSet(std::move(loaded.overrides));
  // What the cgroup pass starts with: the configured allocations.
  for (const auto& x : ctx_.config->experiments) {
    if (x.id >= pushed_.size()) pushed_.resize(x.id + 1);
    pushed_[x.id] = x.allocation;
  }
  apply_all();  // sets aside what the configuration refuses, so only what is enforced is listed
  for (const auto& o : set_.all()) {
    log_info("override kept from before: {} {} = {}{} ({})", o.experiment, to_string(o.resource),
             o.text, o.expires ? " until " + format_time(*o.expires) : "", o.reason);
  }
}

const ExperimentConfig* Controller::find(const std::string& name) const {
  for (const auto& x : ctx_.config->experiments) {
    if (x.name == name) return &x;
  }
  return nullptr;
}

std::vector<Override> Controller::all_overrides() const {
  std::vector<Override> all = config_set_;
  all.insert(all.end(), set_.all().begin(), set_.all().end());
  return all;
}

EffectiveAllocation Controller::effective(const ExperimentConfig& x) const {
  return effective(x, all_overrides());
}

EffectiveAllocation Controller::effective(const ExperimentConfig& x,
                                          const std::vector<Override>& overrides) const {
  EffectiveAllocation e = effective_allocation(x.allocation, overrides, x.name, WallClock::now());
  if (e.pinned_bits == 0) e.pinned_bits = x.pinned_rate_bits;  // the config's pinned_rate
  return e;
}

std::string Controller::unknown_experiment(const Request& r) const {
  json known = json::array();
  std::string names;
  for (const auto& x : ctx_.config->experiments) {
    known.push_back(x.name);
    names += (names.empty() ? "" : ", ") + x.name;
  }
  return error_response(ProtocolError{error_code::kUnknownExperiment,
                                      fmt::format("unknown experiment \"{}\"; known: {}",
                                                  r.experiment, names.empty() ? "(none)" : names),
                                      r.id},
                        json{{"known", known}});
}

static std::string override_key(const Override& o) {
  return fmt::format("{}:{} {} {} {}", o.config_file, o.config_line, o.experiment,
                     to_string(o.resource), o.expires ? to_unix_seconds(*o.expires) : 0);
}

void Controller::read_config_overrides() {
  config_set_ = config_overrides(*ctx_.config);
  expire_config_overrides(WallClock::now());
}

bool Controller::expire_config_overrides(WallClock::time_point now) {
  bool any = false;
  std::vector<Override> live;
  for (Override& o : config_set_) {
    if (!o.expires || *o.expires > now) {
      live.push_back(std::move(o));
      continue;
    }
    any = true;
    if (expired_logged_.insert(override_key(o)).second) {
      log_info("config override {} {} = {} ({}:{}) expired at {}: ignored", o.experiment,
               to_string(o.resource), o.text, o.config_file, o.config_line,
               format_time(*o.expires));
    }
  }
  config_set_ = std::move(live);
  return any;
}

void Controller::publish() {
  ++overrides_generation_;
  if (!ctx_.status) return;
  const auto now = WallClock::now();
  const std::vector<Override> all = all_overrides();
  std::vector<OverrideInForce> list;
  for (const Override& o : all) {
    // Stored overrides of an experiment a reload removed apply again only if it comes back.
    if (!override_in_force(o, all, now) || !find(o.experiment)) continue;
    list.push_back(OverrideInForce{o.experiment, std::string(to_string(o.resource)),
                                   std::string(to_string(o.source)),
                                   o.expires ? to_unix_seconds(*o.expires) : 0});
  }
  ctx_.status->set_overrides(std::move(list));
}

void Controller::apply_all() {
  read_config_overrides();
  drop_invalid_overrides();
  apply_every();
}

void Controller::apply_every() {
  const auto states = ctx_.table->snapshot();
  std::unordered_map<std::uint32_t, ExperimentState*> by_id;
  by_id.reserve(states->size());
  for (const auto& s : *states) by_id.emplace(s->id, s.get());
  const OverridesByExperiment overrides(all_overrides());
  for (const auto& x : ctx_.config->experiments) {
    const auto st = by_id.find(x.id);
    apply(x, st == by_id.end() ? nullptr : st->second, overrides.of(x.name));
  }
  publish();
}

void Controller::drop_invalid_overrides() {
  const auto now = WallClock::now();
  CheckedOverrides checked = check_stored_overrides(set_.all(), *ctx_.config, now);
  if (checked.rejected.empty()) return;
  // Kept beside the file, never only dropped: an operator can read them back and set them again
  // in a form the configuration accepts.
  std::vector<Override> rejected;
  for (const auto& r : checked.rejected) rejected.push_back(r.override_);
  const auto kept_aside = keep_rejected_overrides(path_, rejected, now);
  const std::string aside = kept_aside ? *kept_aside : std::string{};
  for (const auto& r : checked.rejected) {
    const Override& o = r.override_;
    log_warning("override {} {} = {} is not enforced: {}; {}", o.experiment, to_string(o.resource),
                o.text, r.problem,
                kept_aside
                    ? "kept in " + aside
                    : "it could not be kept aside, its stored form: " + override_to_json(o).dump());
    AuditEntry e;
    e.uid = ::getuid();
    e.pid = ::getpid();
    e.command = "check";
    e.experiment = o.experiment;
    e.change = fmt::format("{} {} rejected{}", to_string(o.resource), o.text,
                           kept_aside ? ", kept in " + aside : "");
    e.reason = r.problem;
    if (auto a = audit_.append(e); !a) {
      log_error("cannot write the audit file {}: {}", audit_.path(), a.error().message);
    }
  }
  if (!kept_aside) {
    log_error("cannot keep the rejected overrides beside {}: {}", path_,
              kept_aside.error().message);
  }
  set_ = OverrideSet(std::move(checked.kept));
  if (auto s = store(); !s) {
    log_error("cannot store the overrides without the rejected ones in {}: {}", path_,
              s.error().message);
  }
}

void Controller::forget(std::uint32_t id) {
  if (id < pushed_.size()) pushed_[id].reset();
}

void Controller::added(const ExperimentConfig& x) {
  // The cgroup pass starts a new experiment from its configured allocation.
  if (x.id >= pushed_.size()) pushed_.resize(x.id + 1);
  pushed_[x.id] = x.allocation;
}

void Controller::apply(const ExperimentConfig& x) {
  ExperimentState* state = nullptr;
  for (const auto& s : *ctx_.table->snapshot()) {
    if (s->id == x.id) state = s.get();
  }
  apply(x, state, all_overrides());
}

void Controller::apply(const ExperimentConfig& x, ExperimentState* state,
                       const std::vector<Override>& overrides) {
  const std::uint32_t id = x.id;
  const EffectiveAllocation e = effective(x, overrides);
  // The bandwidth policy's inputs: read by the limiter (and resize_windows) at the next tick.
  if (state) {
    state->applied.bandwidth_bits.store(e.allocation.bandwidth_bits, kRelaxed);
    state->applied.min_rate_bits.store(e.allocation.min_rate_bits(), kRelaxed);
    state->applied.window_ns.store(e.allocation.window.count(), kRelaxed);
    state->applied.pinned_bits.store(e.pinned_bits, kRelaxed);
  }
  CgroupEnforcer* cgroups = ctx_.cgroups ? ctx_.cgroups() : nullptr;
  if (id >= pushed_.size()) pushed_.resize(id + 1);
  if (!cgroups || (pushed_[id] && same_cgroup_allocation(*pushed_[id], e.allocation))) return;
  pushed_[id] = e.allocation;
  if (auto r = cgroups->set_allocation(id, e.allocation); !r) {
    log_error("applying the allocation of {}: {}", x.name, r.error().message);
  }
}

Expected<void> Controller::store() {
  auto w = write_file_atomic(path_, serialize_overrides(set_.all()));
  if (!w) return w.error();
  if (w->not_durable) log_warning("overrides: {}", *w->not_durable);
  return {};
}

void Controller::audit(const Peer& peer, const Request& r, const std::string& change) {
  AuditEntry e;
  e.uid = peer.uid;
  e.pid = peer.pid;
  e.command = std::string(to_string(r.command));
  e.experiment = r.experiment;
  e.change = change;
  e.reason = r.reason;
  log_info("control: uid {} pid {}: {}{}{}: {} (reason: {})", e.uid, e.pid, e.command,
           e.experiment.empty() ? "" : " ", e.experiment, change, e.reason);
  if (auto a = audit_.append(e); !a) {
    log_error("cannot write the audit file {}: {}", audit_.path(), a.error().message);
  }
}

std::string Controller::handle(const Request& r, const Peer& peer) {
  switch (r.command) {
    case Command::kVersion:
      return ok_response(r.id, {{"version", ctx_.version}, {"protocol", kProtocolVersion}});
    case Command::kStatus:
      return status(r);
    case Command::kShow:
      return show(r);
    case Command::kOverrideSet:
      return set_override(r, peer, *r.resource);
    case Command::kThrottle:
      return set_override(r, peer, Resource::kThrottle);
    case Command::kOverrideClear:
      return clear_overrides(r, peer, r.resource);
    case Command::kRelease:
      return clear_overrides(r, peer, Resource::kThrottle);
    case Command::kOverrideList:
      return list(r);
    case Command::kReload:
      return reload(r, peer);
  }
  return error_response(ProtocolError{error_code::kUnknownCommand, "unknown command", r.id});
}

std::string Controller::status(const Request& r) {
  json list = json::array();
  for_each_status([&](const std::string&, json status) { list.push_back(std::move(status)); });
  return ok_response(r.id, {{"version", ctx_.version},
                            {"tick_ns", ctx_.config->daemon.tick.count()},
                            {"link_rate_bits", ctx_.config->network.link_rate_bits},
                            {"experiments", std::move(list)}});
}

void Controller::for_each_status(
    const std::function<void(const std::string& name, json status)>& fn) {
  const auto inputs = status_inputs();
  for (const StatusInput& x : inputs->experiments) {
    fn(x.name, experiment_status(*x.state, x.effective, inputs->tick, x.pod, x.overrides));
  }
}

std::shared_ptr<const StatusInputs> Controller::status_inputs() {
  const auto table = ctx_.table->snapshot();
  CgroupEnforcer* cgroups = ctx_.cgroups ? ctx_.cgroups() : nullptr;
  StatusInputsKey key{table, overrides_generation_, cgroups ? cgroups->pods_generation() : 0};
  if (status_inputs_ && key == status_inputs_key_) return status_inputs_;
  std::unordered_map<std::uint32_t, const ExperimentConfig*> by_id;
  by_id.reserve(ctx_.config->experiments.size());
  for (const auto& c : ctx_.config->experiments) by_id.emplace(c.id, &c);
  const auto pods = cgroups ? cgroups->pods() : std::unordered_map<std::string, std::string>{};
  const OverridesByExperiment overrides(all_overrides());
  auto inputs = std::make_shared<StatusInputs>();
  inputs->tick = ctx_.config->daemon.tick;
  inputs->experiments.reserve(table->size());
  for (const auto& s : *table) {
    const auto found = by_id.find(s->id);
    if (found == by_id.end()) continue;
    const ExperimentConfig& x = *found->second;
    const auto pod = pods.find(x.name);
    const std::vector<Override>& mine = overrides.of(x.name);
    inputs->experiments.push_back(
        StatusInput{x.name, s, effective(x, mine), pod == pods.end() ? "" : pod->second, mine});
  }
  status_inputs_ = std::move(inputs);
  status_inputs_key_ = std::move(key);
  return status_inputs_;
}

std::string Controller::show(const Request& r) {
  const ExperimentConfig* x = find(r.experiment);
  if (!x) return unknown_experiment(r);
  const std::uint32_t id = x->id;
  CgroupEnforcer* cgroups = ctx_.cgroups ? ctx_.cgroups() : nullptr;
  for (const auto& s : *ctx_.table->snapshot()) {
    if (s->id != id) continue;
    return ok_response(r.id,
                       experiment_status(*s, effective(*x), ctx_.config->daemon.tick,
                                         cgroups ? cgroups->pod_of(x->name) : "", all_overrides()));
  }
  return error_response(
      ProtocolError{error_code::kFailed, "the experiment has no state yet", r.id});
}

std::string Controller::list(const Request& r) {
  const auto now = WallClock::now();
  const std::vector<Override> all = all_overrides();
  json out = json::array();
  for (const auto& o : all) {
    if (!r.experiment.empty() && o.experiment != r.experiment) continue;
    json j = override_to_json(o);
    // false: a configuration override that one set with enforcerctl replaces for now.
    j["in_force"] = override_in_force(o, all, now);
    out.push_back(std::move(j));
  }
  if (!r.experiment.empty() && out.empty() && !find(r.experiment)) return unknown_experiment(r);
  return ok_response(r.id, {{"overrides", std::move(out)}});
}

std::string Controller::set_override(const Request& r, const Peer& peer, Resource resource) {
  const ExperimentConfig* x = find(r.experiment);
  if (!x) return unknown_experiment(r);
  auto value = parse_override_value(resource, r.value);
  if (!value)
    return error_response(ProtocolError{error_code::kBadValue, value.error().message, r.id});
  const auto now = WallClock::now();
  Override o;
  o.experiment = x->name;
  o.resource = resource;
  o.text = r.value;
  o.value = *value;
  o.reason = r.reason;
  o.set_at = now;
  o.set_by_uid = peer.uid;
  if (r.for_duration) {
    o.expires = now + std::chrono::duration_cast<WallClock::duration>(*r.for_duration);
  } else if (r.until_unix_seconds) {
    o.expires = WallClock::time_point(std::chrono::seconds(*r.until_unix_seconds));
    if (*o.expires <= now) {
      return error_response(
          ProtocolError{error_code::kBadValue,
                        fmt::format("until {} has already passed", format_time(*o.expires)), r.id});
    }
  }
  const EffectiveAllocation before = effective(*x);
  if (auto c =
          check_override(o, before, ctx_.config->network.link_rate_bits, ctx_.config->daemon.tick);
      !c) {
    return error_response(ProtocolError{error_code::kBadValue, c.error().message, r.id});
  }
  const std::optional<Override> replaced = set_.set(o);
  if (auto s = store(); !s) {
    // Nothing changes unless it is stored: put the set back as it was.
    set_.clear(o.experiment, o.resource);
    if (replaced) set_.set(*replaced);
    return error_response(ProtocolError{
        error_code::kFailed,
        fmt::format("the override was not made: storing it failed: {}", s.error().message), r.id});
  }
  audit(peer, r,
        fmt::format("{} {} -> {}{}", to_string(resource), format_allocation_value(before, resource),
                    o.text, o.expires ? " until " + format_time(*o.expires) : ""));
  apply(*x);
  publish();
  return ok_response(r.id, {{"override", override_to_json(o)},
                            {"replaced", replaced ? override_to_json(*replaced) : json(nullptr)}});
}

std::string Controller::clear_overrides(const Request& r, const Peer& peer,
                                        std::optional<Resource> which) {
  const ExperimentConfig* x = find(r.experiment);
  // Overrides of an experiment that a reload removed can still be cleared.
  bool stored = false;
  for (const auto& o : set_.all()) stored = stored || o.experiment == r.experiment;
  if (!x && !stored) return unknown_experiment(r);
  const std::vector<Override> removed = set_.clear(r.experiment, which);
  if (removed.empty()) return ok_response(r.id, {{"cleared", json::array()}});
  if (auto s = store(); !s) {
    for (const auto& o : removed) set_.set(o);
    return error_response(ProtocolError{
        error_code::kFailed,
        fmt::format("nothing was cleared: storing the change failed: {}", s.error().message),
        r.id});
  }
  std::string change;
  for (const auto& o : removed) {
    change +=
        fmt::format("{}{} {} cleared", change.empty() ? "" : ", ", to_string(o.resource), o.text);
  }
  audit(peer, r, change);
  if (x) apply(*x);
  publish();
  return ok_response(r.id, {{"cleared", overrides_json(removed)}});
}

std::string Controller::reload(const Request& r, const Peer& peer) {
  if (!ctx_.reload)
    return error_response(ProtocolError{error_code::kFailed, "reload is not available", r.id});
  auto n = ctx_.reload();
  if (!n) {
    json errors = json::array();
    std::string text = n.error().message;
    for (std::size_t start = 0; start < text.size();) {
      const std::size_t end = text.find('\n', start);
      errors.push_back(text.substr(start, end - start));
      if (end == std::string::npos) break;
      start = end + 1;
    }
    audit(peer, r, "reload rejected");
    return error_response(
        ProtocolError{error_code::kFailed,
                      "the configuration was not reloaded; the daemon keeps enforcing the one it "
                      "has: " +
                          text,
                      r.id},
        json{{"errors", errors}});
  }
  audit(peer, r, fmt::format("configuration reloaded, {} experiment(s)", *n));
  apply_all();
  return ok_response(r.id, {{"experiments", *n}});
}

void Controller::tick() {
  const auto now = WallClock::now();
  if (expire_config_overrides(now)) {
    apply_every();  // the allocation falls back to enforcerctl's or the configured one
  }
  const auto next = set_.next_expiry();
  if (!next || *next > now) return;
  const std::vector<Override> expired = set_.expire(now);
  if (expired.empty()) return;
  if (auto s = store(); !s) {
    // They are expired either way (a load drops expired overrides); say the file is behind.
    log_error("storing the overrides after expiry: {}", s.error().message);
  }
  Peer self;
  self.uid = static_cast<std::uint32_t>(getuid());
  self.pid = getpid();
  for (const auto& o : expired) {
    Request r;
    r.command = Command::kOverrideClear;
    r.experiment = o.experiment;
    r.reason = "expired (set for: " + o.reason + ")";
    audit(self, r, fmt::format("{} {} expired", to_string(o.resource), o.text));
    if (const ExperimentConfig* x = find(o.experiment)) apply(*x);
  }
  publish();
}

}  // namespace enforcer
