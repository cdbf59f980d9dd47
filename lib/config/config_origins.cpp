// Where each value of the merged document was written, for `enforcerd --check-config`: the file
// and line of its node (nodes keep them through the merge), or for a value read from a file the
// line that named the file and the file itself.
#include "config/config_layers.hpp"

namespace enforcer::config_layers {
namespace {

ValueOrigin origin_of(const toml::node& n, const ValueFileMap& values) {
  if (auto it = values.find(&n); it != values.end()) {
    return ValueOrigin{it->second.config_file, it->second.line, it->second.value_file};
  }
  return ValueOrigin{file_of(n), line_of(n), ""};
}

void table_origins(const toml::table& t, const std::string& where, const ValueFileMap& values,
                   std::map<std::string, ValueOrigin>& out) {
  out[where] = origin_of(t, values);
  for (auto&& [key, value] : t) {
    out[where + "." + std::string(key.str())] = origin_of(value, values);
  }
}

}  // namespace

void collect_origins(const toml::table& doc, const ValueFileMap& values,
                     std::map<std::string, ValueOrigin>& out) {
  for (auto&& [key, value] : doc) {
    const std::string k(key.str());
    if (const toml::table* t = value.as_table()) {
      table_origins(*t, k, values, out);
    } else if (const toml::array* a = value.as_array(); a && a->is_array_of_tables()) {
      std::size_t index = 0;
      for (const toml::node& item : *a) {
        table_origins(*item.as_table(), table_name(k, *item.as_table(), ++index), values, out);
      }
    } else {
      out[k] = origin_of(value, values);
    }
  }
}

}  // namespace enforcer::config_layers
