// Merging a drop-in into the configuration read so far, and leaving out the experiments disabled
// on this host (`enabled = false`). Tables merge key by key (a later value replaces the whole
// earlier one, arrays included); [[experiment]] tables merge by name and [[device]] tables by
// path, so that a drop-in changes only the keys it gives.
#include <fmt/format.h>

#include <optional>

#include "config/config_layers.hpp"

namespace enforcer::config_layers {

std::string file_of(const toml::node& node) {
  const auto& path = node.source().path;
  return path ? *path : std::string();
}

int line_of(const toml::node& node) {
  return static_cast<int>(node.source().begin.line);
}

ConfigError error_at(const toml::node& node, std::string key, std::string message) {
  return ConfigError{file_of(node), line_of(node), std::move(key), std::move(message)};
}

std::string table_name(std::string_view kind, const toml::table& t, std::size_t index) {
  const std::string_view name_key = kind == "device" ? "path" : "name";
  if (const toml::node* n = t.get(name_key); n && n->is_string()) {
    return fmt::format("{} \"{}\"", kind, n->as_string()->get());
  }
  return fmt::format("{}[{}]", kind, index);
}

namespace {

// The string at `key` of an array item that is a table, if any.
std::optional<std::string> name_of(const toml::node& item, std::string_view key) {
  const toml::table* t = item.as_table();
  if (!t) return std::nullopt;
  const toml::node* n = t->get(key);
  if (!n || !n->is_string()) return std::nullopt;
  return n->as_string()->get();
}

// `from`'s tables into `into`: one named like a table of an earlier file changes that table's
// keys; others are added. A name given twice in one drop-in is an error.
void merge_named(std::string_view kind, std::string_view name_key, toml::array& into,
                 toml::array& from, std::vector<ConfigError>& errors) {
  // The earlier files' tables by name (the first of a name: a name given twice in the main
  // file is the parser's error), so that 10,000 experiments merge in a blink.
  std::map<std::string, std::size_t> earlier;
  for (std::size_t i = 0; i < into.size(); ++i) {
    if (auto name = name_of(*into.get(i), name_key)) earlier.emplace(std::move(*name), i);
  }
  std::map<std::string, int> seen;  // names of this drop-in -> line
  for (toml::node& item : from) {
    toml::table& t = *item.as_table();
    const auto name = name_of(item, name_key);
    std::optional<std::size_t> target;
    if (name) {
      if (auto [it, fresh] = seen.emplace(*name, line_of(t)); !fresh) {
        errors.push_back(error_at(t, fmt::format("{} \"{}\"", kind, *name),
                                  fmt::format("{} \"{}\" is given twice in this file (first at "
                                              "line {})",
                                              kind, *name, it->second)));
        continue;
      }
      if (auto it = earlier.find(*name); it != earlier.end()) target = it->second;
    }
    if (!target) {
      into.push_back(std::move(t));
      continue;
    }
    toml::table& old = *into.get(*target)->as_table();
    // addresses and index are the two ways to give an experiment's addresses: the later file's
    // choice replaces the earlier one (giving both in one table stays an error).
    if (t.contains("index") && !t.contains("addresses")) old.erase("addresses");
    if (t.contains("addresses") && !t.contains("index")) old.erase("index");
    for (auto&& [key, value] : t) {
      if (key.str() != name_key) old.insert_or_assign(key, std::move(value));
    }
  }
}

}  // namespace

void merge_dropin(toml::table& into, toml::table& dropin, std::vector<ConfigError>& errors) {
  for (auto&& [key, value] : dropin) {
    const std::string_view k = key.str();
    toml::node* old = into.get(k);
    if (k == "experiment" || k == "device") {
      toml::array* from = value.as_array();
      if (!from || !from->is_array_of_tables()) {
        errors.push_back(error_at(value, std::string(k),
                                  fmt::format("{} must be written as [[{}]] tables", k, k)));
        continue;
      }
      if (old && old->is_array() && old->as_array()->is_array_of_tables()) {
        merge_named(k, k == "device" ? "path" : "name", *old->as_array(), *from, errors);
        continue;
      }
    } else if (k == "override" && old && old->is_array() && value.is_array()) {
      // [[override]] tables add up; the parser lets a later file's replace an earlier file's.
      for (toml::node& item : *value.as_array()) old->as_array()->push_back(std::move(item));
      continue;
    } else if (old && old->is_table() && value.is_table()) {
      for (auto&& [sub, v] : *value.as_table())
        old->as_table()->insert_or_assign(sub, std::move(v));
      continue;
    }
    into.insert_or_assign(key, std::move(value));
  }
}

void remove_disabled(toml::table& doc, std::vector<ConfigError>& errors,
                     std::map<std::string, ValueOrigin>& disabled) {
  toml::array* experiments = doc["experiment"].as_array();
  if (!experiments || !experiments->is_array_of_tables()) return;
  std::size_t index = experiments->size();
  // From the end, so that each position names the table as the parser would have.
  for (auto it = experiments->end(); it != experiments->begin();) {
    --it;
    toml::table& t = *it->as_table();
    const std::string who = table_name("experiment", t, index--);
    const toml::node* enabled = t.get("enabled");
    if (!enabled) continue;
    if (!enabled->is_boolean()) {
      errors.push_back(error_at(*enabled, who + ".enabled",
                                fmt::format("{}.enabled: expected true or false", who)));
    } else if (!enabled->as_boolean()->get()) {
      disabled[who] = ValueOrigin{file_of(*enabled), line_of(*enabled), ""};
      it = experiments->erase(it);
      continue;
    }
    t.erase("enabled");
  }
  if (experiments->empty()) doc.erase("experiment");
  // The overrides of an experiment left out go with it.
  if (toml::array* overrides = doc["override"].as_array(); overrides && !disabled.empty()) {
    for (auto it = overrides->begin(); it != overrides->end();) {
      const auto name = name_of(*it, "experiment");
      if (name && disabled.count(fmt::format("experiment \"{}\"", *name))) {
        it = overrides->erase(it);
      } else {
        ++it;
      }
    }
  }
}

}  // namespace enforcer::config_layers
