// Private to lib/config: the TOML reading helpers (Parser collects errors and reads typed values)
// and the readers of each table that parse_config (config.cpp) calls in turn.
#pragma once

#include <fmt/format.h>

#include <toml++/toml.h>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/config_layers.hpp"

namespace enforcer::config_parse {

// The keys of an allocation, in [defaults] and in each [[experiment]].
inline const std::set<std::string_view> kAllocationKeys = {
    "cpu", "memory", "disk", "disk_io", "bandwidth", "window", "min_rate"};

// Project ids are 32 bits; 0 is the default project (no quota) and 2^32-1 is kept free as the
// "invalid" value some tools use.
inline constexpr std::int64_t kMaxProjectId = 4294967294;

// Collects errors while walking the document. An error is placed at its node's file and line (a
// merged document holds nodes of several files); a value read from a file ("@/path", `values`)
// at the line that named the file, and the message names that file.
class Parser {
 public:
  explicit Parser(std::string_view source, const config_layers::ValueFileMap* values = nullptr)
      : source_(source), values_(values) {}

  void error(const toml::node* node, std::string key, std::string message);
  void error_at(int line, std::string key, std::string message);
  std::vector<ConfigError>& errors() { return errors_; }

  // The value as the file spells it, for messages.
  static std::string spell(const toml::node& node);

  // Rejects keys of `table` that `known` does not list.
  void check_keys(const toml::table& table, const std::string& where,
                  const std::set<std::string_view>& known);

  static std::string join(const std::string& where, std::string_view key) {
    return where.empty() ? std::string(key) : where + "." + std::string(key);
  }

  // A string value parsed by `parse`; `out` is left unchanged on error.
  template <typename T, typename Fn>
  void unit_value(const toml::table& t, const std::string& where, std::string_view key, T& out,
                  Fn parse, bool integer_ok = false) {
    const toml::node* n = t.get(key);
    if (!n) return;
    const std::string k = join(where, key);
    if (integer_ok && n->is_integer()) {
      const auto v = n->as_integer()->get();
      if (v < 0) return error(n, k, fmt::format("{} = {}: must not be negative", k, v));
      out = static_cast<T>(v);
      return;
    }
    if (!n->is_string()) {
      return error(n, k, fmt::format("{} = {}: expected a string with a unit", k, spell(*n)));
    }
    auto parsed = parse(n->as_string()->get());
    if (!parsed) return error(n, k, fmt::format("{}: {}", k, parsed.error().message));
    out = static_cast<T>(*parsed);
  }

  void string_value(const toml::table& t, const std::string& where, std::string_view key,
                    std::string& out, bool allow_empty = false);

  // The allocation keys of `t` into `a` (config_parse_allocation.cpp).
  void allocation(const toml::table& t, const std::string& where, Allocation& a);
  // Checks an allocation's values against each other. Messages quote each value as the file
  // writes it; a value this table inherits (from [defaults]) is quoted in canonical form.
  void check_allocation(const Allocation& a, const toml::table& t, const std::string& where,
                        std::chrono::nanoseconds tick);

 private:
  std::string source_;
  const config_layers::ValueFileMap* values_;
  std::vector<ConfigError> errors_;
};

// An integer key in [min, max]; `out` is left unchanged on error.
template <typename T>
bool integer_value(Parser& p, const toml::table& t, const std::string& where, std::string_view key,
                   std::int64_t min, std::int64_t max, T& out) {
  const toml::node* n = t.get(key);
  if (!n) return false;
  const std::string k = Parser::join(where, key);
  if (!n->is_integer() || n->as_integer()->get() < min || n->as_integer()->get() > max) {
    p.error(
        n, k,
        fmt::format("{} = {}: expected an integer from {} to {}", k, Parser::spell(*n), min, max));
    return false;
  }
  out = static_cast<T>(n->as_integer()->get());
  return true;
}

// The readers of each table, in the order parse_config calls them.
void parse_daemon(Parser& p, const toml::table& t, DaemonConfig& d);  // config_parse_daemon.cpp
void parse_network(Parser& p, const toml::table& t, NetworkConfig& net,
                   const CmdlineReader& read_cmdline);  // config_parse_network.cpp
// [defaults], or the check of the built-in window against the tick when there is no such table
// (`t` null); config_parse_allocation.cpp.
void parse_defaults(Parser& p, const toml::table* t, Config& c);
void parse_experiments(Parser& p, const toml::node& node, Config& c,
                       const CmdlineReader& read_cmdline);         // config_parse_experiments.cpp
void parse_devices(Parser& p, const toml::node& node, Config& c);  // config_parse_devices.cpp
// [[override]] tables, after the experiments (their names are checked); config_parse_overrides.cpp.
void parse_overrides(Parser& p, const toml::node& node, Config& c);

// The configuration a parsed (maybe merged) document gives (config.cpp); `source` names the file
// of errors that have no node.
ConfigResult read_document(const toml::table& doc, std::string_view source,
                           const CmdlineReader& read_cmdline,
                           const config_layers::ValueFileMap* values);

}  // namespace enforcer::config_parse
