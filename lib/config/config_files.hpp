// Loading a configuration from its files: the main file, then the drop-ins of a directory
// (enforcer.d beside the main file, or one given), each maybe only for some hosts ([match]), and
// values read from files ("@/path"). Every access to the system goes through ConfigFileAccess, so
// that tests use fakes; the merging and checking are pure (config_layers.hpp).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "base/expected.hpp"
#include "config/config.hpp"

namespace enforcer {

// Where a configuration is read from.
struct ConfigPaths {
  std::string main;        // e.g. /etc/enforcer/enforcer.toml
  std::string dropin_dir;  // empty: "enforcer.d" beside `main` (which need not exist)
};

// The drop-in directory of `paths`: as given, else enforcer.d beside the main file.
std::string dropin_dir_of(const ConfigPaths& paths);

// The names in a directory, and whether it exists at all.
struct DirListing {
  bool exists = false;
  std::vector<std::string> names;
};

// The system as the loader sees it.
struct ConfigFileAccess {
  // A file's whole text; more than `max_bytes` is an error.
  std::function<Expected<std::string>(const std::string& path, std::size_t max_bytes)> read_file;
  // A directory's entries (any order); exists = false, no error, when there is no such directory.
  std::function<Expected<DirListing>(const std::string& dir)> list_dir;
  // This host's name (the kernel's); asked only when a drop-in has [match] and the main file sets
  // no daemon.hostname.
  std::function<Expected<std::string>()> hostname;
  CmdlineReader read_cmdline;
};

// The real file system, gethostname(2) and read_cmdline_file.
ConfigFileAccess system_file_access();

// The largest main file or drop-in read (10,000 experiments take about 1 MiB), and the largest
// file a "@/path" value is read from (a number or a word, with room to spare).
inline constexpr std::size_t kMaxConfigFileBytes = 64u << 20;
inline constexpr std::size_t kMaxValueFileBytes = 4096;

// Reads and checks the whole configuration. The drop-ins (every `*.toml` of the directory not
// starting with '.') apply in lexical (byte) order after the main file: a later file's keys
// replace earlier ones; an [[experiment]] (a [[device]]) whose name (path) an earlier file
// defined changes only the keys it gives, a new one is added; `enabled = false` leaves an
// experiment out on this host. A drop-in whose first table is [match] applies only where the host
// name matches one of its `hostnames` globs. Every error names its file and line; `sources` says
// what was read (also when there are errors).
ConfigResult load_config(const ConfigPaths& paths, const ConfigFileAccess& access);

}  // namespace enforcer
