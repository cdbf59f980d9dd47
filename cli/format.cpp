#include "format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <ctime>

#include "base/units.hpp"
#include "control/control_protocol.hpp"

namespace enforcer::ctl {
namespace {

// --- Reading the daemon's JSON defensively: absent, null and mistyped all read as "unknown". ---

const json* field(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<double> number(const json& j, const char* key) {
  const json* v = field(j, key);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

std::optional<std::uint64_t> u64(const json& j, const char* key) {
  const json* v = field(j, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_number_unsigned()) return v->get<std::uint64_t>();
  if (v->is_number_integer() && v->get<std::int64_t>() >= 0) {
    return static_cast<std::uint64_t>(v->get<std::int64_t>());
  }
  if (v->is_number_float() && v->get<double>() >= 0 && v->get<double>() < 1.8e19) {
    return static_cast<std::uint64_t>(v->get<double>());
  }
  return std::nullopt;
}

std::optional<std::int64_t> i64(const json& j, const char* key) {
  const json* v = field(j, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_number_integer()) return v->get<std::int64_t>();
  if (v->is_number_float() && std::isfinite(v->get<double>())) {
    return static_cast<std::int64_t>(v->get<double>());
  }
  return std::nullopt;
}

std::optional<std::string> text(const json& j, const char* key) {
  const json* v = field(j, key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

std::optional<bool> boolean(const json& j, const char* key) {
  const json* v = field(j, key);
  if (v == nullptr || !v->is_boolean()) return std::nullopt;
  return v->get<bool>();
}

// The sub-object `key` of `j`, or null.
const json& object(const json& j, const char* key) {
  static const json kNull;
  const json* v = field(j, key);
  return v != nullptr && v->is_object() ? *v : kNull;
}

const json& array(const json& j, const char* key) {
  static const json kEmpty = json::array();
  const json* v = field(j, key);
  return v != nullptr && v->is_array() ? *v : kEmpty;
}

std::string or_unknown(const std::optional<std::string>& s) {
  return s ? *s : std::string(kUnknown);
}

// --- Value forms. Configured values are exact (as in the config); measured ones 3 digits. ---

std::string rate_exact(std::optional<std::uint64_t> bits) {
  return bits ? format_rate_bits(*bits) : std::string(kUnknown);
}

std::string size_exact(std::optional<std::uint64_t> bytes) {
  return bytes ? format_size_bytes(*bytes) : std::string(kUnknown);
}

std::string rate_measured(std::optional<double> bits) {
  return bits ? format_measured_rate(*bits) : std::string(kUnknown);
}

std::string bytes_measured(std::optional<double> bytes, bool binary) {
  return bytes ? format_measured_bytes(*bytes, binary) : std::string(kUnknown);
}

std::string number_3sig(std::optional<double> v) {
  return v ? format_3sig(*v) : std::string(kUnknown);
}

std::string duration_ns(std::optional<std::uint64_t> ns) {
  if (!ns) return std::string(kUnknown);
  return format_duration(std::chrono::nanoseconds(static_cast<std::int64_t>(*ns)));
}

std::string percent(std::optional<double> fraction) {
  return fraction ? format_percent(*fraction) : std::string(kUnknown);
}

// A value with 3 significant digits in the largest unit it reaches; `units` from small to large.
struct Unit {
  std::string_view suffix;
  double multiplier;
};

template <std::size_t N>
std::string scaled_3sig(double value, const std::array<Unit, N>& units) {
  if (!std::isfinite(value) || value < 0) return std::string(kUnknown);
  std::size_t i = 0;
  while (i + 1 < N && value >= units[i + 1].multiplier) ++i;
  std::string digits = format_3sig(value / units[i].multiplier);
  // 999.7Mbit rounds to "1000": show "1Gbit" instead.
  if (i + 1 < N && std::stod(digits) * units[i].multiplier >= units[i + 1].multiplier) {
    ++i;
    digits = format_3sig(value / units[i].multiplier);
  }
  return digits + std::string(units[i].suffix);
}

std::string expires_cell(const json& ovr, std::int64_t now) {
  auto expires = i64(ovr, "expires");
  if (!expires) return "never";
  return fmt::format("{} ({})", rfc3339_utc(*expires),
                     *expires > now ? "in " + format_remaining(*expires - now) : "expired");
}

std::string uid_cell(const json& ovr) {
  auto uid = u64(ovr, "set_by_uid");
  return uid ? fmt::format("uid {}", *uid) : std::string(kUnknown);
}

// Where an override comes from: "cli", or "config FILE:LINE" (an [[override]] table), with
// "(replaced by cli)" when one set with enforcerctl wins over it for now.
std::string source_cell(const json& ovr) {
  const auto source = text(ovr, "source");
  if (source != "config") return source ? std::string(*source) : "cli";
  std::string out = "config " + or_unknown(text(ovr, "file"));
  if (auto line = i64(ovr, "line")) out += fmt::format(":{}", *line);
  if (const auto it = ovr.find("in_force"); it != ovr.end() && it->is_boolean() && !it->get<bool>())
    out += " (replaced by cli)";
  return out;
}

std::string overrides_table(const json& overrides, std::int64_t now, bool with_experiment) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header{"RESOURCE", "VALUE", "EXPIRES", "SET", "BY", "SOURCE", "REASON"};
  if (with_experiment) header.insert(header.begin(), "EXPERIMENT");
  rows.push_back(std::move(header));
  for (const json& o : overrides) {
    auto set_at = i64(o, "set_at");
    const bool config = text(o, "source") == "config";
    std::vector<std::string> row{or_unknown(text(o, "resource")),
                                 or_unknown(text(o, "value")),
                                 expires_cell(o, now),
                                 config   ? "-"
                                 : set_at ? rfc3339_utc(*set_at)
                                          : std::string(kUnknown),
                                 config ? "-" : uid_cell(o),
                                 source_cell(o),
                                 or_unknown(text(o, "reason"))};
    if (with_experiment) row.insert(row.begin(), or_unknown(text(o, "experiment")));
    rows.push_back(std::move(row));
  }
  return render_table(rows);
}

// "87.3Mbit/1.2Mbit" from the egress and ingress DIR objects.
std::string directions_cell(const json& exp, const char* key) {
  return rate_measured(number(object(exp, "egress"), key)) + "/" +
         rate_measured(number(object(exp, "ingress"), key));
}

// "used/limit".
std::string use_limit(std::string used, std::string limit) {
  return used + "/" + limit;
}

}  // namespace

std::string format_3sig(double value) {
  if (!std::isfinite(value) || value < 0) return std::string(kUnknown);
  int decimals = 0;
  if (value < 1) {
    decimals = 3;
  } else if (value < 10) {
    decimals = 2;
  } else if (value < 100) {
    decimals = 1;
  }
  std::string s = fmt::format("{:.{}f}", value, decimals);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s;
}

std::string format_measured_rate(double bits_per_second) {
  constexpr std::array units{Unit{"bit", 1}, Unit{"Kbit", 1e3}, Unit{"Mbit", 1e6},
                             Unit{"Gbit", 1e9}, Unit{"Tbit", 1e12}};
  return scaled_3sig(bits_per_second, units);
}

std::string format_measured_bytes(double bytes, bool binary) {
  constexpr std::array bin{Unit{"B", 1}, Unit{"KiB", 1024.0}, Unit{"MiB", 1048576.0},
                           Unit{"GiB", 1073741824.0}, Unit{"TiB", 1099511627776.0}};
  constexpr std::array si{Unit{"B", 1}, Unit{"KB", 1e3}, Unit{"MB", 1e6}, Unit{"GB", 1e9},
                          Unit{"TB", 1e12}};
  return binary ? scaled_3sig(bytes, bin) : scaled_3sig(bytes, si);
}

std::string format_remaining(std::int64_t seconds) {
  if (seconds <= 0) return "expired";
  constexpr std::array<std::pair<std::int64_t, std::string_view>, 4> units{
      {{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}}};
  for (std::size_t i = 0; i < units.size(); ++i) {
    const auto [size, name] = units[i];
    if (seconds < size) continue;
    std::string out = fmt::format("{}{}", seconds / size, name);
    if (i + 1 < units.size()) {
      const auto [next_size, next_name] = units[i + 1];
      if (const std::int64_t rest = seconds % size / next_size; rest > 0) {
        out += fmt::format("{}{}", rest, next_name);
      }
    }
    return out;
  }
  return "expired";  // not reached
}

std::string render_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line.append(widths[c] - row[c].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  }
  return out;
}

std::string format_throttled(const json& exp) {
  if (auto pinned = u64(exp, "pinned_bits"); pinned && *pinned > 0) {
    return fmt::format("THROTTLED {} (manual)", format_rate_bits(*pinned));
  }
  const json& out = object(exp, "egress");
  const json& in = object(exp, "ingress");
  const auto out_throttled = boolean(out, "throttled");
  const auto in_throttled = boolean(in, "throttled");
  if (!out_throttled && !in_throttled) return std::string(kUnknown);
  const bool o = out_throttled.value_or(false);
  const bool i = in_throttled.value_or(false);
  if (!o && !i) return "no";
  const std::string out_limit = rate_measured(number(out, "limit_bits"));
  const std::string in_limit = rate_measured(number(in, "limit_bits"));
  if (o && i) return fmt::format("THROTTLED out {} in {}", out_limit, in_limit);
  if (o) return "THROTTLED " + out_limit;
  return "THROTTLED in " + in_limit;
}

std::string format_status(const json& status) {
  std::vector<std::vector<std::string>> rows{{"EXPERIMENT", "BANDWIDTH", "AVG OUT/IN",
                                              "RATE OUT/IN", "THROTTLED", "CPU", "MEMORY", "DISK",
                                              "IO READ/WRITE"}};
  for (const json& exp : array(status, "experiments")) {
    const json& alloc = object(exp, "allocation");
    const json& cpu = object(exp, "cpu");
    const json& memory = object(exp, "memory");
    const json& disk = object(exp, "disk");
    const json& io = object(exp, "io");
    auto disk_limit = u64(disk, "limit_bytes");
    if (!disk_limit || *disk_limit == 0) disk_limit = u64(alloc, "disk_bytes");
    rows.push_back({
        or_unknown(text(exp, "name")),
        rate_exact(u64(alloc, "bandwidth_bits")),
        directions_cell(exp, "window_average_bits"),
        directions_cell(exp, "rate_bits"),
        format_throttled(exp),
        use_limit(number_3sig(number(cpu, "usage_cores")), number_3sig(number(alloc, "cpu_cores"))),
        use_limit(bytes_measured(number(memory, "bytes"), true),
                  size_exact(u64(alloc, "memory_bytes"))),
        use_limit(bytes_measured(number(disk, "used_bytes"), false), size_exact(disk_limit)),
        use_limit(bytes_measured(number(io, "read_bytes_total"), false),
                  bytes_measured(number(io, "write_bytes_total"), false)),
    });
  }
  std::string out = render_table(rows);
  if (rows.size() == 1) out += "(no experiments configured)\n";
  return out;
}

std::string format_top_header(const json& status, std::int64_t now) {
  auto tick = u64(status, "tick_ns");
  return fmt::format("enforcerd {}  tick {}  link {}  {} experiments  {}  (q to quit)",
                     or_unknown(text(status, "version")), duration_ns(tick),
                     rate_exact(u64(status, "link_rate_bits")), array(status, "experiments").size(),
                     rfc3339_utc(now));
}

std::string format_show(const json& exp, std::int64_t now) {
  const json& alloc = object(exp, "allocation");
  std::string out;
  auto id = u64(exp, "id");
  out += fmt::format("experiment  {}{}\n", or_unknown(text(exp, "name")),
                     id ? fmt::format(" (id {})", *id) : "");
  auto pod = text(exp, "pod");
  out += fmt::format("pod         {}\n", pod && !pod->empty() ? *pod : "- (no pod cgroup known)");
  out += fmt::format("throttled   {}\n", format_throttled(exp));

  out += "\nallocation (overrides applied)\n";
  out += render_table({
      {"  bandwidth", rate_exact(u64(alloc, "bandwidth_bits")), "per direction"},
      {"  window", duration_ns(u64(alloc, "window_ns"))},
      {"  min_rate", rate_exact(u64(alloc, "min_rate_bits"))},
      {"  cpu", number_3sig(number(alloc, "cpu_cores")), "cores"},
      {"  memory", size_exact(u64(alloc, "memory_bytes"))},
      {"  disk", size_exact(u64(alloc, "disk_bytes"))},
      {"  disk_io", percent(number(alloc, "disk_io_fraction")), "of each device"},
  });

  out += "\nnetwork\n";
  std::vector<std::vector<std::string>> net{
      {"  DIRECTION", "WINDOW AVG", "RATE", "LIMIT", "THROTTLED", "ALLOWANCE", "TOTAL", "DROPPED"}};
  for (const char* dir : {"egress", "ingress"}) {
    const json& d = object(exp, dir);
    auto limit = number(d, "limit_bits");
    auto throttled = boolean(d, "throttled");
    auto allowance = number(d, "allowance_bytes");
    if (allowance && *allowance < 0) allowance = 0;
    auto dropped = u64(d, "dropped_packets_total");
    net.push_back({std::string("  ") + dir, rate_measured(number(d, "window_average_bits")),
                   rate_measured(number(d, "rate_bits")),
                   limit && *limit == 0 ? "none" : rate_measured(limit),
                   throttled ? (*throttled ? "THROTTLED" : "no") : std::string(kUnknown),
                   bytes_measured(allowance, false),
                   bytes_measured(number(d, "bytes_total"), false),
                   dropped ? fmt::format("{} packets", *dropped) : std::string(kUnknown)});
  }
  out += render_table(net);

  out += "\nresources\n";
  std::vector<std::vector<std::string>> res;
  const json& cpu = object(exp, "cpu");
  if (cpu.is_null()) {
    res.push_back({"  cpu", "- (not known)"});
  } else {
    res.push_back({"  cpu", fmt::format("{} of {} cores; {}s used, {}s throttled",
                                        number_3sig(number(cpu, "usage_cores")),
                                        number_3sig(number(alloc, "cpu_cores")),
                                        number_3sig(number(cpu, "usage_seconds_total")),
                                        number_3sig(number(cpu, "throttled_seconds_total")))});
  }
  const json& memory = object(exp, "memory");
  if (memory.is_null()) {
    res.push_back({"  memory", "- (not known)"});
  } else {
    auto ooms = u64(memory, "oom_kills_total");
    auto limit = u64(memory, "limit_bytes");  // 0: the cgroup has none ("max")
    res.push_back({"  memory", fmt::format("{} of {} (cgroup limit {}); {} OOM kills",
                                           bytes_measured(number(memory, "bytes"), true),
                                           size_exact(u64(alloc, "memory_bytes")),
                                           limit && *limit == 0 ? "none" : size_exact(limit),
                                           ooms ? std::to_string(*ooms) : "-")});
  }
  const json& disk = object(exp, "disk");
  if (disk.is_null()) {
    res.push_back({"  disk", "- (not known or not configured)"});
  } else {
    auto limit = u64(disk, "limit_bytes");
    if (!limit || *limit == 0) limit = u64(alloc, "disk_bytes");
    res.push_back(
        {"  disk", fmt::format("{} of {}", bytes_measured(number(disk, "used_bytes"), false),
                               size_exact(limit))});
  }
  const json& io = object(exp, "io");
  if (io.is_null()) {
    res.push_back({"  io", "- (not known)"});
  } else {
    res.push_back({"  io", fmt::format("{} read, {} written (limit {} of each device)",
                                       bytes_measured(number(io, "read_bytes_total"), false),
                                       bytes_measured(number(io, "write_bytes_total"), false),
                                       percent(number(alloc, "disk_io_fraction")))});
  }
  out += render_table(res);

  const json& overrides = array(exp, "overrides");
  if (overrides.empty()) {
    out += "\noverrides   none\n";
  } else {
    out += "\noverrides\n";
    std::string table = overrides_table(overrides, now, false);
    // Indent the table under its heading.
    std::size_t start = 0;
    while (start < table.size()) {
      const std::size_t end = table.find('\n', start);
      out += "  " + table.substr(start, end - start + 1);
      start = end + 1;
    }
  }
  return out;
}

std::string format_override_list(const json& overrides, std::int64_t now) {
  if (!overrides.is_array() || overrides.empty()) return "no overrides\n";
  return overrides_table(overrides, now, true);
}

std::string format_override(const json& o, std::int64_t now) {
  auto expires = i64(o, "expires");
  std::string until = "until cleared";
  if (expires) {
    until = fmt::format("until {} ({})", rfc3339_utc(*expires),
                        *expires > now ? "in " + format_remaining(*expires - now) : "expired");
  }
  return fmt::format("{} {} = {}, {}, reason \"{}\"", or_unknown(text(o, "experiment")),
                     or_unknown(text(o, "resource")), or_unknown(text(o, "value")), until,
                     or_unknown(text(o, "reason")));
}

std::string format_set_result(const json& result, std::int64_t now) {
  std::string out = "set: " + format_override(object(result, "override"), now) + "\n";
  if (const json& replaced = object(result, "replaced"); !replaced.is_null()) {
    out += "replaced: " + format_override(replaced, now) + "\n";
  }
  return out;
}

std::string format_cleared_result(const json& result, std::int64_t now) {
  const json& cleared = array(result, "cleared");
  if (cleared.empty()) return "nothing to clear\n";
  std::string out;
  for (const json& o : cleared) out += "cleared: " + format_override(o, now) + "\n";
  return out;
}

std::string format_reload_result(const json& result) {
  auto n = u64(result, "experiments");
  return fmt::format("reloaded: {} experiments\n", n ? std::to_string(*n) : "-");
}

std::string format_error(const json& error) {
  auto message = text(error, "message");
  auto code = text(error, "code");
  std::string out = message && !message->empty() ? *message : code ? *code : "unknown error";
  if (code == error_code::kUnknownExperiment) {
    const json& known = array(error, "known");
    std::vector<std::string> names;
    for (const json& n : known) {
      if (n.is_string()) names.push_back(n.get<std::string>());
    }
    out += names.empty() ? "; no experiments are configured"
                         : "; known: " + fmt::format("{}", fmt::join(names, ", "));
  }
  for (const json& e : array(error, "errors")) {
    if (e.is_string()) out += "\n  " + e.get<std::string>();
  }
  return out;
}

}  // namespace enforcer::ctl
