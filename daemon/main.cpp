// enforcerd: enforces per-experiment resource allocations on an M-Lab node.
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "base/log.hpp"
#include "base/version.hpp"
#include "config/config.hpp"
#include "config/config_files.hpp"
#include "control/overrides.hpp"
#include "control_server.hpp"
#include "daemon.hpp"
#include "datapath/bpf_datapath.hpp"
#include "privileges.hpp"

namespace {

// enforcerd --uninstall: what a clean stop removes, for a daemon that did not stop cleanly.
int run_uninstall(const enforcer::Config& config) {
  using namespace enforcer;
  const auto lock = take_state_lock(config.daemon.state_dir);  // held until this returns
  if (!lock) {
    log_error("--uninstall needs the daemon stopped: {}", lock.error().message);
    return 1;
  }
  const UninstallReport report = uninstall_datapath(
      config.daemon.bpf_pin_dir,
      config.network.uplink_address ? all_interfaces() : config.network.interfaces);
  for (const auto& line : report.removed) std::printf("removed: %s\n", line.c_str());
  if (report.removed.empty()) std::printf("removed: nothing (no enforcer filter or pin found)\n");
  for (const auto& line : report.kept) std::printf("kept: %s\n", line.c_str());
  std::printf(
      "kept: the clsact qdiscs on the uplinks (they may hold other filters; remove one with "
      "'tc qdisc del dev IFACE clsact')\n"
      "kept: the CPU, memory and I/O limits written to the experiments' pod cgroups, the project "
      "quotas of their data_dir, and %s (overrides, audit log, window snapshot)\n",
      config.daemon.state_dir.c_str());
  for (const auto& line : report.errors) log_error("{}", line);
  return report.errors.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace enforcer;
  CLI::App app{"enforcerd: per-experiment resource enforcement for M-Lab nodes", "enforcerd"};
  std::string config_path = "/etc/enforcer/enforcer.toml";
  bool check_only = false;
  bool verbose = false;
  app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
  std::string config_dir;
  app.add_option("--config-dir", config_dir,
                 "drop-in directory: its *.toml files apply after the configuration file, in "
                 "lexical order (default: enforcer.d beside the configuration file, if it "
                 "exists)");
  app.add_flag("--check-config", check_only,
               "validate the configuration, print the effective configuration and exit");
  bool uninstall = false;
  app.add_flag("--uninstall", uninstall,
               "with no daemon running: remove the tc filters and BPF pins a daemon that did not "
               "stop cleanly left (what the configuration names), print what was removed and exit");
  app.add_flag("-v,--verbose", verbose, "log debug messages");
  app.set_version_flag("--version", std::string("enforcerd ") + kVersion);
  CLI11_PARSE(app, argc, argv);
  if (verbose) log_set_level(LogLevel::kDebug);

  const ConfigPaths paths{config_path, config_dir};
  ConfigResult loaded = load_config(paths, system_file_access());
  if (!loaded.config) {
    for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    std::fprintf(stderr, "enforcerd: %zu error(s) in %s and the drop-ins of %s\n",
                 loaded.errors.size(), config_path.c_str(), dropin_dir_of(paths).c_str());
    return 1;
  }
  // Block devices named in [[device]] must exist (io.max takes their major:minor); [[override]]
  // tables are checked against the allocations and the node as enforcerctl's are.
  std::vector<ConfigError> errors = resolve_devices(*loaded.config, config_path);
  const auto override_errors = check_config_overrides(*loaded.config, WallClock::now());
  errors.insert(errors.end(), override_errors.begin(), override_errors.end());
  if (!errors.empty()) {
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    std::fprintf(stderr, "enforcerd: %zu error(s) in %s\n", errors.size(), config_path.c_str());
    return 1;
  }
  if (check_only) {
    std::cout << "# effective configuration of " << config_path << " with the drop-ins of "
              << dropin_dir_of(paths) << " (defaults applied)\n"
              << format_config(*loaded.config, &loaded.sources);
    return 0;
  }

  if (auto r = check_privileges(); !r) {
    log_error("{}", r.error().message);
    return 1;
  }
  if (uninstall) return run_uninstall(*loaded.config);
  // A control client, a cgroup of each host-network experiment, the maps and programs, the log.
  const std::uint64_t wanted =
      ControlServer::kMaxClients + loaded.config->daemon.max_experiments + 256;
  if (const std::uint64_t limit = raise_open_file_limit(); limit < wanted) {
    log_warning(
        "the limit on open files is {}, less than the {} this daemon may need "
        "(LimitNOFILE= in the unit, or ulimit -Hn)",
        limit, wanted);
  }
  Daemon daemon(std::move(*loaded.config), paths, config_inputs(paths, loaded.sources));
  if (auto r = daemon.start(); !r) {
    log_error("{}", r.error().message);
    return 1;
  }
  daemon.run();
  return 0;
}
