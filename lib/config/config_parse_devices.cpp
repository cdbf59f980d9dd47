// Reads the [[device]] tables: each block device's path and the capacities (bytes/s, IOPS) that
// the disk_io allocations share out. Whether the device exists is resolve_devices' (config.cpp).
#include <limits>
#include <map>

#include "base/text.hpp"
#include "base/units.hpp"
#include "config/config_parse.hpp"

namespace enforcer::config_parse {
namespace {

// A byte rate: a size per second, "200MB/s" (or "200MB"; a bare number is bytes/s).
Expected<std::uint64_t> parse_byte_rate(std::string_view text) {
  // Trimming the left too changes nothing: parse_size_bytes trims its own blanks.
  std::string_view s = trim_blanks(text);
  if (s.size() >= 2 && s.substr(s.size() - 2) == "/s") s.remove_suffix(2);
  auto v = parse_size_bytes(s);
  if (!v) {
    return Error{fmt::format(
        "\"{}\" is not a byte rate: write a size per second, e.g. \"200MB/s\" (KB MB GB, KiB "
        "MiB GiB)",
        text)};
  }
  return *v;
}

// path: an absolute path, each listed once (`paths`: path -> line). Names the device in
// `where` once it has a path.
void read_path(Parser& p, const toml::table& t, DeviceConfig& d, std::string& where,
               std::map<std::string, int>& paths) {
  const toml::node* path = t.get("path");
  if (!path) {
    p.error(&t, where + ".path",
            fmt::format("{} has no path (the block device, e.g. \"/dev/vda\")", where));
  } else if (!path->is_string() || path->as_string()->get().empty() ||
             path->as_string()->get().front() != '/') {
    p.error(path, where + ".path",
            fmt::format("{}.path = {}: expected the absolute path of a block device, e.g. "
                        "\"/dev/vda\"",
                        where, Parser::spell(*path)));
  } else {
    d.path = path->as_string()->get();
    where = fmt::format("device \"{}\"", d.path);
    if (auto [it, fresh] = paths.emplace(d.path, static_cast<int>(path->source().begin.line));
        !fresh) {
      p.error(path, where + ".path",
              fmt::format("device \"{}\" is listed twice (first at line {})", d.path, it->second));
    }
  }
}

// read_bps, write_bps, read_iops, write_iops: at least one, each above 0.
void read_capacity(Parser& p, const toml::table& t, DeviceConfig& d, const std::string& where) {
  for (auto [key, out] :
       {std::pair{"read_bps", &d.read_bps}, std::pair{"write_bps", &d.write_bps}}) {
    const std::size_t errors_before = p.errors().size();
    p.unit_value(t, where, key, *out, parse_byte_rate, true);
    const toml::node* n = t.get(key);
    if (n && p.errors().size() == errors_before && *out == 0) {
      p.error(n, Parser::join(where, key),
              fmt::format("{}.{} = {}: must be above 0 (leave it out for no limit)", where, key,
                          Parser::spell(*n)));
    }
  }
  // The kernel keeps iops limits in 32 bits.
  integer_value(p, t, where, "read_iops", 1, std::numeric_limits<std::uint32_t>::max(),
                d.read_iops);
  integer_value(p, t, where, "write_iops", 1, std::numeric_limits<std::uint32_t>::max(),
                d.write_iops);
  if (!t.get("read_bps") && !t.get("write_bps") && !t.get("read_iops") && !t.get("write_iops")) {
    p.error(&t, where,
            fmt::format("{} has no capacity: give at least one of read_bps, write_bps, "
                        "read_iops, write_iops",
                        where));
  }
}

}  // namespace

void parse_devices(Parser& p, const toml::node& node, Config& c) {
  const toml::array* arr = node.as_array();
  if (!arr || !arr->is_array_of_tables()) {
    p.error(&node, "device", "device must be written as [[device]] tables");
    return;
  }
  std::map<std::string, int> paths;  // path -> line
  int index = 0;
  for (const toml::node& e : *arr) {
    ++index;
    const toml::table& t = *e.as_table();
    DeviceConfig d;
    d.line = static_cast<int>(t.source().begin.line);
    if (const auto& path = t.source().path) d.file = *path;
    std::string where = fmt::format("device[{}]", index);
    p.check_keys(t, where, {"path", "read_bps", "write_bps", "read_iops", "write_iops"});
    read_path(p, t, d, where, paths);
    read_capacity(p, t, d, where);
    c.devices.push_back(std::move(d));
  }
}

}  // namespace enforcer::config_parse
