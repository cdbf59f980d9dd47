// Private to lib/config: the steps that make one TOML document of a configuration's files
// before it is read (config_files.cpp runs them in turn). All pure: they work on parsed tables
// and take what they need of the system as arguments. Nodes are moved, never copied, so that
// each keeps its source (file and line) for errors and for --check-config.
#pragma once

#include <toml++/toml.h>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.hpp"
#include "config/config.hpp"

namespace enforcer::config_layers {

// A value written "@/path", once replaced by the file's contents: where it was written (the new
// node has no source of its own) and the file read. `failed`: the value could not be read (that
// error is reported; the parser's about the "@..." string left in place would only repeat it).
struct ValueFileRef {
  std::string config_file;
  int line = 0;
  std::string value_file;
  bool failed = false;
};
using ValueFileMap = std::map<const toml::node*, ValueFileRef>;

// A node's file and line (the file its parse named; "" when it has none).
std::string file_of(const toml::node& node);
int line_of(const toml::node& node);
ConfigError error_at(const toml::node& node, std::string key, std::string message);

// The name of an [[experiment]] or [[device]] table in keys and messages: `experiment "ndt"`,
// else its position `experiment[2]` (1-based).
std::string table_name(std::string_view kind, const toml::table& t, std::size_t index);

// config_merge.cpp: a drop-in's keys into `into` (the main file and the drop-ins before it).
void merge_dropin(toml::table& into, toml::table& dropin, std::vector<ConfigError>& errors);
// config_merge.cpp: drops the experiments whose `enabled` is false (and the key from the others),
// recording where each was disabled.
void remove_disabled(toml::table& doc, std::vector<ConfigError>& errors,
                     std::map<std::string, ValueOrigin>& disabled);

// config_match.cpp: the main file may not have [match] (an error; the table is removed).
void reject_match(toml::table& main, std::vector<ConfigError>& errors);
// config_match.cpp: whether a drop-in applies on this host; removes its [match]. A [match] that is
// not the first table, or is malformed, is an error (the drop-in then does not apply). `why`:
// why a well-formed [match] does not take this host.
using HostnameSource = std::function<Expected<std::string>()>;
bool dropin_applies(toml::table& dropin, const HostnameSource& hostname,
                    std::vector<ConfigError>& errors, std::string& why);
// config_match.cpp: whether `glob` is well-formed (brackets closed); else why not.
std::string glob_problem(std::string_view glob);

// config_values.cpp: replaces each "@/path" string value by the file's trimmed contents, typed as
// its key wants (a bare number for a rate is bit/s); "@@..." stands for a string starting with
// one "@". Records each replacement in `values` and each file read in `watched`.
using ValueFileReader = std::function<Expected<std::string>(const std::string& path)>;
void resolve_value_files(toml::table& doc, const ValueFileReader& read, ValueFileMap& values,
                         std::vector<std::string>& watched, std::vector<ConfigError>& errors);

// config_origins.cpp: where each value of `doc` was written (ConfigSources::origins).
void collect_origins(const toml::table& doc, const ValueFileMap& values,
                     std::map<std::string, ValueOrigin>& out);

}  // namespace enforcer::config_layers
