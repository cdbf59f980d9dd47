// The TOML reading helpers every table reader uses (config_parse.hpp): errors with their line,
// values spelled as the file writes them, unknown keys, string values.
#include "config/config_parse.hpp"

#include <sstream>

namespace enforcer::config_parse {

void Parser::error(const toml::node* node, std::string key, std::string message) {
  std::string file = source_;
  int line = 0;
  if (node && values_) {
    if (auto it = values_->find(node); it != values_->end()) {
      if (it->second.failed) return;  // reported when it was read
      file = it->second.config_file;
      line = it->second.line;
      if (!it->second.value_file.empty()) {
        message += fmt::format(" (the value read from {})", it->second.value_file);
      }
      node = nullptr;
    }
  }
  if (node) {
    line = static_cast<int>(node->source().begin.line);
    if (const auto& path = node->source().path; path && !path->empty()) file = *path;
  }
  errors_.push_back(ConfigError{std::move(file), line, std::move(key), std::move(message)});
}

void Parser::error_at(int line, std::string key, std::string message) {
  errors_.push_back(ConfigError{source_, line, std::move(key), std::move(message)});
}

std::string Parser::spell(const toml::node& node) {
  std::ostringstream out;
  node.visit([&](auto&& v) {
    if constexpr (toml::is_string<decltype(v)>) {
      out << '"' << v.get() << '"';
    } else if constexpr (toml::is_table<decltype(v)>) {
      out << "a table";
    } else if constexpr (toml::is_array<decltype(v)>) {
      out << "an array";
    } else {
      out << v;
    }
  });
  return out.str();
}

void Parser::check_keys(const toml::table& table, const std::string& where,
                        const std::set<std::string_view>& known) {
  for (auto&& [k, v] : table) {
    if (known.count(k.str()) == 0) {
      std::string list;
      for (auto name : known) list += (list.empty() ? "" : ", ") + std::string(name);
      error(&v, join(where, k.str()),
            fmt::format("unknown key \"{}\" (known keys: {})", k.str(), list));
    }
  }
}

void Parser::string_value(const toml::table& t, const std::string& where, std::string_view key,
                          std::string& out, bool allow_empty) {
  const toml::node* n = t.get(key);
  if (!n) return;
  const std::string k = join(where, key);
  if (!n->is_string()) return error(n, k, fmt::format("{} = {}: expected a string", k, spell(*n)));
  const std::string& v = n->as_string()->get();
  if (v.empty() && !allow_empty) return error(n, k, fmt::format("{} must not be empty", k));
  out = v;
}

}  // namespace enforcer::config_parse
