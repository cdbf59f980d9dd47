// Host matching: a drop-in whose first table is [match] applies only on the hosts whose name
// matches one of its `hostnames` globs (fnmatch(3), case-insensitive as host names are), e.g.
// "mlab[1-4]-lga03.*". The main file applies everywhere and may not have [match].
#include <fmt/format.h>

#include <fnmatch.h>
#include <limits>

#include "config/config_layers.hpp"

namespace enforcer::config_layers {
namespace {

// Where a top-level entry starts: a table's header, an array of tables' first header.
int first_line(const toml::node& node) {
  if (const toml::array* a = node.as_array(); a && a->is_array_of_tables() && !a->empty()) {
    int line = std::numeric_limits<int>::max();
    for (const toml::node& t : *a) line = std::min(line, line_of(t));
    return line;
  }
  return line_of(node);
}

// `hostnames`: a non-empty list of well-formed globs (empty when it is not one).
std::vector<std::string> read_hostnames(const toml::table& match,
                                        std::vector<ConfigError>& errors) {
  std::vector<std::string> globs;
  for (auto&& [key, value] : match) {
    if (key.str() != "hostnames") {
      errors.push_back(error_at(
          value, fmt::format("match.{}", key.str()),
          fmt::format("unknown key \"{}\" in [match] (known keys: hostnames)", key.str())));
    }
  }
  const toml::node* n = match.get("hostnames");
  const toml::array* list = n ? n->as_array() : nullptr;
  if (!list || list->empty()) {
    errors.push_back(error_at(n ? *n : static_cast<const toml::node&>(match), "match.hostnames",
                              "[match] needs hostnames = [\"glob\", ...], e.g. "
                              "[\"mlab[1-4]-lga03.*\"]"));
    return {};
  }
  const std::size_t errors_before = errors.size();
  for (const toml::node& item : *list) {
    const std::string glob = item.is_string() ? item.as_string()->get() : std::string();
    const std::string problem = item.is_string() ? glob_problem(glob) : "expected a string";
    if (!problem.empty()) {
      errors.push_back(
          error_at(item, "match.hostnames",
                   fmt::format("match.hostnames: {}: {}",
                               item.is_string() ? "\"" + glob + "\"" : "an item", problem)));
    }
    globs.push_back(glob);
  }
  if (errors.size() != errors_before) return {};
  return globs;
}

}  // namespace

std::string glob_problem(std::string_view glob) {
  if (glob.empty()) return "an empty glob matches no host";
  for (std::size_t i = 0; i < glob.size(); ++i) {
    const char c = glob[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\0') return "a host name has no blanks";
    if (c == '\\') {
      if (++i == glob.size()) return "ends in a lone '\\'";
    } else if (c == '[') {
      // ']' right after '[' or "[!" is a member, not the end.
      std::size_t j = i + 1;
      if (j < glob.size() && (glob[j] == '!' || glob[j] == '^')) ++j;
      if (j < glob.size() && glob[j] == ']') ++j;
      while (j < glob.size() && glob[j] != ']') ++j;
      if (j == glob.size()) return fmt::format("the '[' at position {} is never closed", i + 1);
      i = j;
    }
  }
  return {};
}

void reject_match(toml::table& main, std::vector<ConfigError>& errors) {
  const toml::node* match = main.get("match");
  if (!match) return;
  errors.push_back(error_at(*match, "match",
                            "[match] is for drop-ins only (the main file applies on every "
                            "host): move it to the first table of a file in the drop-in "
                            "directory"));
  main.erase("match");
}

bool dropin_applies(toml::table& dropin, const HostnameSource& hostname,
                    std::vector<ConfigError>& errors, std::string& why) {
  const toml::node* match = dropin.get("match");
  if (!match) return true;
  const std::size_t errors_before = errors.size();
  for (auto&& [key, value] : dropin) {
    if (key.str() != "match" && first_line(value) < line_of(*match)) {
      errors.push_back(error_at(*match, "match",
                                fmt::format("[match] must be the first table of a drop-in (\"{}\" "
                                            "comes before it, at line {})",
                                            key.str(), first_line(value))));
      break;
    }
  }
  std::vector<std::string> globs;
  if (!match->is_table()) {
    errors.push_back(error_at(*match, "match",
                              "match must be a table: [match] with hostnames = [\"glob\", ...]"));
  } else {
    globs = read_hostnames(*match->as_table(), errors);
  }
  if (errors.size() != errors_before) return false;
  const auto host = hostname();
  if (!host) {
    errors.push_back(error_at(*match, "match.hostnames",
                              fmt::format("cannot tell this host's name for [match]: {} (set "
                                          "daemon.hostname in the main file)",
                                          host.error().message)));
    return false;
  }
  const int line = line_of(*match);
  dropin.erase("match");
  std::string list;
  for (const std::string& glob : globs) {
    if (::fnmatch(glob.c_str(), host->c_str(), FNM_CASEFOLD) == 0) return true;
    list += fmt::format("{}\"{}\"", list.empty() ? "" : ", ", glob);
  }
  why =
      fmt::format("host name \"{}\" matches none of [{}] ([match] at line {})", *host, list, line);
  return false;
}

}  // namespace enforcer::config_layers
