// enforcerd: enforces per-experiment resource allocations on an M-Lab node.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "config.hpp"
#include "daemon.hpp"
#include "log.hpp"
#include "privileges.hpp"
#include "version.hpp"

int main(int argc, char** argv) {
  using namespace enforcer;
  CLI::App app{"enforcerd: per-experiment resource enforcement for M-Lab nodes", "enforcerd"};
  std::string config_path = "/etc/enforcer/enforcer.toml";
  bool check_only = false;
  bool verbose = false;
  app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
  app.add_flag("--check-config", check_only,
               "validate the configuration, print the effective configuration and exit");
  app.add_flag("-v,--verbose", verbose, "log debug messages");
  app.set_version_flag("--version", std::string("enforcerd ") + kVersion);
  CLI11_PARSE(app, argc, argv);
  if (verbose) log_set_level(LogLevel::kDebug);

  ConfigResult loaded = load_config(config_path);
  if (!loaded.config) {
    for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    std::fprintf(stderr, "enforcerd: %zu error(s) in %s\n", loaded.errors.size(),
                 config_path.c_str());
    return 1;
  }
  // Block devices named in [[device]] must exist (io.max takes their major:minor).
  if (auto errors = resolve_devices(*loaded.config, config_path); !errors.empty()) {
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    std::fprintf(stderr, "enforcerd: %zu error(s) in %s\n", errors.size(), config_path.c_str());
    return 1;
  }
  if (check_only) {
    std::cout << "# effective configuration of " << config_path << " (defaults applied)\n"
              << format_config(*loaded.config);
    return 0;
  }

  if (auto r = check_privileges(); !r) {
    log_error("{}", r.error().message);
    return 1;
  }
  Daemon daemon(std::move(*loaded.config), config_path);
  if (auto r = daemon.start(); !r) {
    log_error("{}", r.error().message);
    return 1;
  }
  daemon.run();
  return 0;
}
