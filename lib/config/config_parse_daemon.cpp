// Reads the [daemon] table: the tick and the quota walk's interval, the daemon's paths and
// listen address, the experiment and project id limits, and what a clean stop does.
#include "base/units.hpp"
#include "config/config_parse.hpp"

namespace enforcer::config_parse {
namespace {

using std::chrono::nanoseconds;

// "host:port" or "[v6]:port".
bool valid_listen(std::string_view s) {
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const std::string_view host = s.substr(0, colon);
  const std::string_view port = s.substr(colon + 1);
  if (port.empty() || port.size() > 5) return false;
  unsigned p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    p = p * 10 + static_cast<unsigned>(c - '0');
  }
  if (p == 0 || p > 65535) return false;
  if (host.front() == '[') return host.back() == ']' && host.size() > 2;
  return host.find(':') == std::string_view::npos;
}

// daemon.tick and daemon.quota_check_interval, each within its range.
void read_intervals(Parser& p, const toml::table& t, DaemonConfig& d) {
  // A tick out of range is not stored: windows are then checked against the default tick
  // instead of producing a second, misleading error (or a division by zero).
  nanoseconds tick = d.tick;
  p.unit_value(t, "daemon", "tick", tick, parse_duration);
  if (const toml::node* n = t.get("tick");
      n && (tick < std::chrono::milliseconds(10) || tick > std::chrono::minutes(1))) {
    p.error(n, "daemon.tick",
            fmt::format("daemon.tick = {}: must be between 10ms and 1m", Parser::spell(*n)));
  } else {
    d.tick = tick;
  }
  nanoseconds check = d.quota_check_interval;
  p.unit_value(t, "daemon", "quota_check_interval", check, parse_duration);
  if (const toml::node* n = t.get("quota_check_interval");
      n && (check < std::chrono::seconds(1) || check > std::chrono::hours(24))) {
    p.error(n, "daemon.quota_check_interval",
            fmt::format("daemon.quota_check_interval = {}: must be between 1s and 24h",
                        Parser::spell(*n)));
  } else {
    d.quota_check_interval = check;
  }
}

// The string keys: paths, the listen address, the control group.
void read_strings(Parser& p, const toml::table& t, DaemonConfig& d) {
  p.string_value(t, "daemon", "state_dir", d.state_dir);
  p.string_value(t, "daemon", "control_socket", d.control_socket);
  p.string_value(t, "daemon", "bpf_pin_dir", d.bpf_pin_dir);
  p.string_value(t, "daemon", "metrics_listen", d.metrics_listen);
  p.string_value(t, "daemon", "cgroup_root", d.cgroup_root, true);
  p.string_value(t, "daemon", "control_group", d.control_group, true);
  p.string_value(t, "daemon", "hostname", d.hostname, true);
  p.string_value(t, "daemon", "status_dir", d.status_dir, true);
  if (const toml::node* n = t.get("metrics_listen");
      n && n->is_string() && !valid_listen(d.metrics_listen)) {
    p.error(n, "daemon.metrics_listen",
            fmt::format("daemon.metrics_listen = {}: expected \"host:port\" or \"[v6]:port\"",
                        Parser::spell(*n)));
  }
  for (auto key : {"state_dir", "control_socket", "bpf_pin_dir", "status_dir"}) {
    const toml::node* n = t.get(key);
    if (n && n->is_string() && !n->as_string()->get().empty() &&
        n->as_string()->get().front() != '/') {
      p.error(n, fmt::format("daemon.{}", key),
              fmt::format("daemon.{} = {}: must be an absolute path", key, Parser::spell(*n)));
    }
  }
}

// daemon.max_experiments and daemon.project_id_base.
void read_limits(Parser& p, const toml::table& t, DaemonConfig& d) {
  if (const toml::node* n = t.get("max_experiments")) {
    if (!n->is_integer() || n->as_integer()->get() < 1 || n->as_integer()->get() > 1'000'000) {
      p.error(n, "daemon.max_experiments",
              fmt::format("daemon.max_experiments = {}: expected an integer from 1 to 1000000",
                          Parser::spell(*n)));
    } else {
      d.max_experiments = static_cast<std::uint32_t>(n->as_integer()->get());
    }
  }
  if (const toml::node* n = t.get("project_id_base")) {
    if (!n->is_integer() || n->as_integer()->get() < 0 || n->as_integer()->get() >= kMaxProjectId) {
      p.error(n, "daemon.project_id_base",
              fmt::format("daemon.project_id_base = {}: expected an integer from 0 to {}",
                          Parser::spell(*n), kMaxProjectId - 1));
    } else {
      d.project_id_base = static_cast<std::uint32_t>(n->as_integer()->get());
    }
  }
}

}  // namespace

void parse_daemon(Parser& p, const toml::table& t, DaemonConfig& d) {
  p.check_keys(t, "daemon",
               {"tick", "state_dir", "control_socket", "bpf_pin_dir", "metrics_listen",
                "cgroup_root", "max_experiments", "project_id_base", "control_group",
                "quota_check_interval", "hostname", "on_stop", "status_dir", "cgroup_manager"});
  read_intervals(p, t, d);
  if (const toml::node* n = t.get("on_stop")) {
    const std::string v = n->is_string() ? n->as_string()->get() : "";
    if (v == "hold" || v == "remove") {
      d.on_stop = v == "hold" ? OnStop::kHold : OnStop::kRemove;
    } else {
      p.error(
          n, "daemon.on_stop",
          fmt::format("daemon.on_stop = {}: expected \"hold\" or \"remove\"", Parser::spell(*n)));
    }
  }
  if (const toml::node* n = t.get("cgroup_manager")) {
    const std::string v = n->is_string() ? n->as_string()->get() : "";
    if (v == "auto") {
      d.cgroup_manager = CgroupManager::kAuto;
    } else if (v == "systemd") {
      d.cgroup_manager = CgroupManager::kSystemd;
    } else if (v == "cgroupfs") {
      d.cgroup_manager = CgroupManager::kCgroupfs;
    } else {
      p.error(n, "daemon.cgroup_manager",
              fmt::format("daemon.cgroup_manager = {}: expected \"auto\", \"systemd\" or "
                          "\"cgroupfs\"",
                          Parser::spell(*n)));
    }
  }
  read_strings(p, t, d);
  read_limits(p, t, d);
  if (const toml::node* n = t.get("cgroup_root");
      n && n->is_string() && !d.cgroup_root.empty() && d.cgroup_root.front() != '/') {
    p.error(n, "daemon.cgroup_root",
            fmt::format("daemon.cgroup_root = {}: must be an absolute path (or \"\" to find it "
                        "from /proc/self/mounts)",
                        Parser::spell(*n)));
  }
}

}  // namespace enforcer::config_parse
