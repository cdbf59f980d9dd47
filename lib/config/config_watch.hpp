// Watching what a configuration was read from, so that a change applies without a signal.
//
// The inputs are files (the main file, drop-ins, "@" value files) and drop-in directories. Each
// is watched through the directory that holds it (inotify on the parent, filtered by name):
// that sees a file written in place, replaced by rename (editors, `install`), created after the
// daemon started, or removed. Kubernetes updates a mounted ConfigMap by renaming a `..data`
// symlink in the mount's directory; every name starting with ".." counts for that reason. A
// drop-in directory is watched itself too, for any `*.toml` in it.
//
// ConfigWatchSet is the pure part (which directories, which names), ConfigWatcher the inotify
// part. The daemon debounces what the watcher reports and reloads through its usual path.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.hpp"
#include "base/fd.hpp"
#include "config/config_files.hpp"

namespace enforcer {

struct ConfigInputs {
  std::vector<std::string> files;        // read, or to be read when they appear
  std::vector<std::string> directories;  // drop-in directories (may not exist yet)
};

// What a load read or looked for: the main file, the drop-ins applied, the "@" files and the
// drop-in directory (where a new drop-in would appear).
ConfigInputs config_inputs(const ConfigPaths& paths, const ConfigSources& sources);
// Both sets: after a rejected change, what the running configuration and the rejected one read
// are watched, so that fixing either is seen.
ConfigInputs merge_inputs(const ConfigInputs& a, const ConfigInputs& b);
bool operator==(const ConfigInputs& a, const ConfigInputs& b);

class ConfigWatchSet {
 public:
  explicit ConfigWatchSet(const ConfigInputs& inputs);
  // Every directory to watch, sorted.
  std::vector<std::string> directories() const;
  // Whether an event about `name` in directory `dir` may change the configuration.
  bool concerns(const std::string& dir, std::string_view name) const;

 private:
  std::map<std::string, std::set<std::string>> names_;  // directory -> names in it that matter
  std::set<std::string> dropin_dirs_;                   // any *.toml in them matters
};

class ConfigWatcher {
 public:
  // Watches the set's directories that exist (one that does not cannot change anything the
  // configuration could read until its parent changes, which is watched when it is an input's).
  static Expected<ConfigWatcher> create(const ConfigInputs& inputs);

  int fd() const { return fd_.get(); }
  // Reads every pending event without blocking. True when one may change the configuration (or
  // the queue overflowed, or a watched directory went away: then everything counts).
  bool drain();
  std::size_t watch_count() const { return dirs_.size(); }

 private:
  ConfigWatcher(Fd fd, ConfigWatchSet set) : fd_(std::move(fd)), set_(std::move(set)) {}
  Fd fd_;
  ConfigWatchSet set_;
  std::map<int, std::string> dirs_;  // watch descriptor -> directory
};

}  // namespace enforcer
