// Values read from files: a string value "@/path" stands for the file's trimmed contents, typed
// as its key wants, so that a per-site fact written at boot (ndt's maximum rate in
// /var/local/metadata/iface-max-rate) needs no per-site configuration. A bare number read for a
// rate is bit/s. Run on the merged document, so only the values in effect are read.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <memory>
#include <set>

#include "base/text.hpp"
#include "config/config_files.hpp"
#include "config/config_layers.hpp"

namespace enforcer::config_layers {
namespace {

// Keys whose values are rates: a bare number read for them is bit/s.
const std::set<std::string_view> kRateKeys = {"bandwidth", "pinned_rate", "link_rate", "min_rate"};
// Keys whose values are numbers (integers, or for cpu any number).
const std::set<std::string_view> kNumberKeys = {"cpu",        "max_experiments", "project_id_base",
                                                "project_id", "read_iops",       "index",
                                                "write_iops", "memory",          "disk",
                                                "read_bps",   "write_bps"};
// Keys that choose what the rest means, read before values are: written as they are.
const std::set<std::string_view> kLiteralKeys = {"experiment.name", "device.path",
                                                 "daemon.hostname"};

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// A key's part after the last '.' ("bandwidth" of `experiment "ndt".bandwidth`).
std::string_view leaf(std::string_view key) {
  const auto dot = key.rfind('.');
  return dot == std::string_view::npos ? key : key.substr(dot + 1);
}

class Resolver {
 public:
  Resolver(const ValueFileReader& read, ValueFileMap& values, std::vector<std::string>& watched,
           std::vector<ConfigError>& errors)
      : read_(read), values_(values), watched_(watched), errors_(errors) {}

  // Every value of `t`; `where` names it in keys ("daemon", `experiment "ndt"`), `kind` is its
  // kind for the keys written as they are ("experiment", "device", "daemon", ...).
  void table(toml::table& t, const std::string& where, std::string_view kind);

 private:
  // The replacement of one "@..." string (nullptr: an error, reported); `key` names it.
  std::unique_ptr<toml::node> replacement(const toml::node& n, const std::string& key,
                                          std::string_view kind);
  std::unique_ptr<toml::node> typed(std::string_view text, std::string_view key);
  const ValueFileReader& read_;
  ValueFileMap& values_;
  std::vector<std::string>& watched_;
  std::vector<ConfigError>& errors_;
  std::string last_path_;  // the file of the last replacement
};

bool is_file_value(const toml::node& n) {
  return n.is_string() && !n.as_string()->get().empty() && n.as_string()->get().front() == '@';
}

void Resolver::table(toml::table& t, const std::string& where, std::string_view kind) {
  for (auto&& [k, v] : t) {
    const std::string key =
        where.empty() ? std::string(k.str()) : where + "." + std::string(k.str());
    if (toml::table* sub = v.as_table()) {
      table(*sub, key, k.str());
    } else if (toml::array* arr = v.as_array()) {
      std::size_t index = 0;
      for (auto it = arr->begin(); it != arr->end(); ++it) {
        ++index;
        if (toml::table* item = it->as_table()) {
          table(*item, table_name(k.str(), *item, index), k.str());
        } else if (is_file_value(*it)) {
          if (auto fresh = replacement(*it, key, kind)) {
            const toml::node& old = *it;
            const ValueFileRef ref{file_of(old), line_of(old), last_path_};
            it = arr->replace(it, std::move(*fresh));
            values_[&*it] = ref;
          }
        }
      }
    } else if (is_file_value(v)) {
      if (auto fresh = replacement(v, key, kind)) {
        const ValueFileRef ref{file_of(v), line_of(v), last_path_};
        // Replacing an existing key's value keeps the iteration valid (no node is added).
        t.insert_or_assign(k, std::move(*fresh));
        values_[t.get(k.str())] = ref;
      }
    }
  }
}

std::unique_ptr<toml::node> Resolver::replacement(const toml::node& n, const std::string& key,
                                                  std::string_view kind) {
  const std::string& written = n.as_string()->get();
  const std::string spelled = fmt::format("{} = \"{}\"", key, written);
  if (written.size() > 1 && written[1] == '@') {
    last_path_.clear();
    return std::make_unique<toml::value<std::string>>(written.substr(1));
  }
  if (kLiteralKeys.count(fmt::format("{}.{}", kind, leaf(key))) != 0) {
    errors_.push_back(error_at(n, key,
                               fmt::format("{}: this key cannot be read from a file (write it "
                                           "out; \"@@...\" is a string starting with \"@\")",
                                           spelled)));
    values_[&n] = ValueFileRef{file_of(n), line_of(n), "", true};
    return nullptr;
  }
  const std::string path = written.substr(1);
  if (path.empty() || path.front() != '/') {
    errors_.push_back(error_at(n, key,
                               fmt::format("{}: the file after \"@\" must be an absolute path "
                                           "(\"@@...\" is a string starting with \"@\")",
                                           spelled)));
    values_[&n] = ValueFileRef{file_of(n), line_of(n), "", true};
    return nullptr;
  }
  if (std::find(watched_.begin(), watched_.end(), path) == watched_.end()) watched_.push_back(path);
  const auto text = read_(path);
  std::string problem;
  if (!text) {
    problem = fmt::format("cannot read {}: {}", path, text.error().message);
  } else if (text->size() > kMaxValueFileBytes) {
    problem = fmt::format("{} is larger than {} bytes: not a value", path, kMaxValueFileBytes);
  } else if (const std::string_view value = trim(*text); value.empty()) {
    problem = fmt::format("{} is empty", path);
  } else if (value.find_first_of(std::string_view("\n\r\0", 3)) != std::string_view::npos) {
    problem = fmt::format("{} holds more than one line: expected one value", path);
  } else if (auto node = typed(value, leaf(key))) {
    last_path_ = path;
    return node;
  }
  errors_.push_back(error_at(n, key, fmt::format("{}: {}", spelled, problem)));
  values_[&n] = ValueFileRef{file_of(n), line_of(n), path, true};
  return nullptr;
}

// The text as the key's type: a number for number keys where it is one, "<n>bit" for a bare
// number read for a rate, else a string (which the key's reader checks as it checks any).
std::unique_ptr<toml::node> Resolver::typed(std::string_view text, std::string_view key) {
  if (kRateKeys.count(key) != 0 && all_digits(text)) {
    return std::make_unique<toml::value<std::string>>(std::string(text) + "bit");
  }
  if (kNumberKeys.count(key) != 0) {
    std::int64_t i = 0;
    if (auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
        ec == std::errc() && end == text.data() + text.size()) {
      return std::make_unique<toml::value<std::int64_t>>(i);
    }
    double d = 0;
    if (auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
        ec == std::errc() && end == text.data() + text.size() && std::isfinite(d)) {
      return std::make_unique<toml::value<double>>(d);
    }
  }
  return std::make_unique<toml::value<std::string>>(std::string(text));
}

}  // namespace

void resolve_value_files(toml::table& doc, const ValueFileReader& read, ValueFileMap& values,
                         std::vector<std::string>& watched, std::vector<ConfigError>& errors) {
  Resolver(read, values, watched, errors).table(doc, "", "");
}

}  // namespace enforcer::config_layers
