#include "config/config.hpp"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <limits>

#include "base/units.hpp"
#include "config/index2ip.hpp"

namespace enforcer {
namespace {

using std::chrono::nanoseconds;

// Collects errors while walking the document.
class Parser {
 public:
  explicit Parser(std::string_view source) : source_(source) {}

  void error(const toml::node* node, std::string key, std::string message) {
    const int line = node ? static_cast<int>(node->source().begin.line) : 0;
    errors_.push_back(ConfigError{source_, line, std::move(key), std::move(message)});
  }
  void error_at(int line, std::string key, std::string message) {
    errors_.push_back(ConfigError{source_, line, std::move(key), std::move(message)});
  }
  std::vector<ConfigError>& errors() { return errors_; }

  // The value as the file spells it, for messages.
  static std::string spell(const toml::node& node) {
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

  // Rejects keys of `table` that `known` does not list.
  void check_keys(const toml::table& table, const std::string& where,
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
                    std::string& out, bool allow_empty = false) {
    const toml::node* n = t.get(key);
    if (!n) return;
    const std::string k = join(where, key);
    if (!n->is_string())
      return error(n, k, fmt::format("{} = {}: expected a string", k, spell(*n)));
    const std::string& v = n->as_string()->get();
    if (v.empty() && !allow_empty) return error(n, k, fmt::format("{} must not be empty", k));
    out = v;
  }

  void allocation(const toml::table& t, const std::string& where, Allocation& a) {
    if (const toml::node* n = t.get("cpu")) {
      const std::string k = join(where, "cpu");
      std::optional<double> cores;
      if (n->is_integer()) cores = static_cast<double>(n->as_integer()->get());
      if (n->is_floating_point()) cores = n->as_floating_point()->get();
      if (!cores) {
        error(n, k, fmt::format("{} = {}: expected a number of cores, e.g. 1.0", k, spell(*n)));
      } else if (!(*cores > 0) || !std::isfinite(*cores) || *cores > 4096) {
        error(n, k, fmt::format("{} = {}: must be a number of cores above 0", k, spell(*n)));
      } else {
        a.cpu_cores = *cores;
      }
    }
    unit_value(t, where, "memory", a.memory_bytes, parse_size_bytes, true);
    unit_value(t, where, "disk", a.disk_bytes, parse_size_bytes, true);
    unit_value(t, where, "disk_io", a.disk_io_fraction, parse_percent);
    unit_value(t, where, "bandwidth", a.bandwidth_bits, parse_rate_bits);
    unit_value(t, where, "window", a.window, parse_duration);
    if (const toml::node* n = t.get("min_rate")) {
      const std::string k = join(where, "min_rate");
      if (!n->is_string()) {
        error(n, k, fmt::format("{} = {}: expected a percentage or a rate", k, spell(*n)));
      } else {
        const std::string& s = n->as_string()->get();
        if (!s.empty() && s.back() == '%') {
          auto f = parse_percent(s);
          if (!f)
            error(n, k, fmt::format("{}: {}", k, f.error().message));
          else
            a.min_rate = MinRate{true, *f, 0};
        } else {
          auto r = parse_rate_bits(s);
          if (!r)
            error(n, k, fmt::format("{}: {}", k, r.error().message));
          else
            a.min_rate = MinRate{false, 0, *r};
        }
      }
    }
  }

  // Checks an allocation's values against each other. Messages quote each value as the file
  // writes it; a value this table inherits (from [defaults]) is quoted in canonical form.
  void check_allocation(const Allocation& a, const toml::table& t, const std::string& where,
                        nanoseconds tick) {
    auto node = [&](std::string_view key) -> const toml::node* {
      const toml::node* n = t.get(key);
      return n ? n : &t;
    };
    auto written = [&](std::string_view key, const std::string& canonical) {
      const toml::node* n = t.get(key);
      const std::string k = join(where, key);
      if (n) return fmt::format("{} = {}", k, spell(*n));
      return fmt::format("{} = \"{}\" (from [defaults])", k, canonical);
    };
    if (a.bandwidth_bits < 8) {
      error(node("bandwidth"), join(where, "bandwidth"),
            fmt::format("{}: must be at least 8bit",
                        written("bandwidth", format_rate_bits(a.bandwidth_bits))));
    }
    if (a.memory_bytes == 0) {
      error(node("memory"), join(where, "memory"),
            fmt::format("{}: must be above 0", written("memory", "0")));
    }
    if (a.disk_bytes == 0) {
      error(node("disk"), join(where, "disk"),
            fmt::format("{}: must be above 0", written("disk", "0")));
    }
    if (!(a.disk_io_fraction > 0)) {
      error(node("disk_io"), join(where, "disk_io"),
            fmt::format("{}: must be above 0%", written("disk_io", "0%")));
    }
    if (const std::string problem = a.min_rate_problem(); !problem.empty()) {
      error(node("min_rate"), join(where, "min_rate"),
            fmt::format("{}: {}", written("min_rate", format_min_rate(a.min_rate)), problem));
    }
    if (a.min_rate_bits() > a.bandwidth_bits) {
      error(node("min_rate"), join(where, "min_rate"),
            fmt::format("{}: exceeds the bandwidth ({})",
                        written("min_rate", format_rate_bits(a.min_rate_bits())),
                        format_rate_bits(a.bandwidth_bits)));
    }
    if (tick.count() > 0) {
      if (a.window < 2 * tick || a.window.count() % tick.count() != 0) {
        error(node("window"), join(where, "window"),
              fmt::format("{}: must be a multiple of daemon.tick (\"{}\"), at least two ticks",
                          written("window", format_duration(a.window)), format_duration(tick)));
      } else if (a.window / tick > 86400) {
        error(node("window"), join(where, "window"),
              fmt::format("{}: holds more than 86400 ticks of \"{}\"",
                          written("window", format_duration(a.window)), format_duration(tick)));
      }
    }
  }

 private:
  std::string source_;
  std::vector<ConfigError> errors_;
};

const std::set<std::string_view> kAllocationKeys = {"cpu",       "memory", "disk",    "disk_io",
                                                    "bandwidth", "window", "min_rate"};

bool valid_experiment_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// Project ids are 32 bits; 0 is the default project (no quota) and 2^32-1 is kept free as the
// "invalid" value some tools use.
constexpr std::int64_t kMaxProjectId = 4294967294;

// A cgroup glob: a relative path ("a/b*/c"), no empty, "." or ".." components.
std::optional<std::string> invalid_cgroup_glob(std::string_view glob) {
  if (glob.empty()) return "must not be empty";
  if (glob.front() == '/') {
    return "must be relative to daemon.cgroup_root, e.g. \"system.slice/ndt.service\"";
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = glob.find('/', start);
    const std::string_view part = glob.substr(start, slash - start);
    if (part.empty() || part == "." || part == "..") {
      return "must be a path without empty, \".\" or \"..\" components";
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  for (char c : glob) {
    if (c == '\0' || c == '\n') return "must not contain a newline or NUL";
  }
  return std::nullopt;
}

// A byte rate: a size per second, "200MB/s" (or "200MB"; a bare number is bytes/s).
Expected<std::uint64_t> parse_byte_rate(std::string_view text) {
  std::string_view s = text;
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
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

std::string format_byte_rate(std::uint64_t bytes_per_second) {
  return format_size_bytes(bytes_per_second) + "/s";
}

bool valid_interface_name(std::string_view name) {
  if (name.empty() || name.size() > 15) return false;  // IFNAMSIZ - 1
  for (char c : name) {
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\0') return false;
  }
  return name != "." && name != "..";
}

// "host:port" or "[v6]:port".
bool valid_listen(std::string_view s) {
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const std::string_view host = s.substr(0, colon);
  const std::string_view port = s.substr(colon + 1);
  if (port.empty() || port.size() > 5) return false;
  unsigned p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    p = p * 10 + static_cast<unsigned>(c - '0');
  }
  if (p == 0 || p > 65535) return false;
  if (host.front() == '[') return host.back() == ']' && host.size() > 2;
  return host.find(':') == std::string_view::npos;
}

void parse_daemon(Parser& p, const toml::table& t, DaemonConfig& d) {
  p.check_keys(
      t, "daemon",
      {"tick", "state_dir", "control_socket", "bpf_pin_dir", "metrics_listen", "cgroup_root",
       "max_experiments", "project_id_base", "control_group", "quota_check_interval"});
  // A tick out of range is not stored: windows are then checked against the default tick
  // instead of producing a second, misleading error (or a division by zero).
  nanoseconds tick = d.tick;
  p.unit_value(t, "daemon", "tick", tick, parse_duration);
  if (const toml::node* n = t.get("tick");
      n && (tick < std::chrono::milliseconds(10) || tick > std::chrono::minutes(1))) {
    p.error(n, "daemon.tick",
            fmt::format("daemon.tick = {}: must be between 10ms and 1m", Parser::spell(*n)));
  } else {
    d.tick = tick;
  }
  nanoseconds check = d.quota_check_interval;
  p.unit_value(t, "daemon", "quota_check_interval", check, parse_duration);
  if (const toml::node* n = t.get("quota_check_interval");
      n && (check < std::chrono::seconds(1) || check > std::chrono::hours(24))) {
    p.error(n, "daemon.quota_check_interval",
            fmt::format("daemon.quota_check_interval = {}: must be between 1s and 24h",
                        Parser::spell(*n)));
  } else {
    d.quota_check_interval = check;
  }
  p.string_value(t, "daemon", "state_dir", d.state_dir);
  p.string_value(t, "daemon", "control_socket", d.control_socket);
  p.string_value(t, "daemon", "bpf_pin_dir", d.bpf_pin_dir);
  p.string_value(t, "daemon", "metrics_listen", d.metrics_listen);
  p.string_value(t, "daemon", "cgroup_root", d.cgroup_root, true);
  p.string_value(t, "daemon", "control_group", d.control_group, true);
  if (const toml::node* n = t.get("metrics_listen");
      n && n->is_string() && !valid_listen(d.metrics_listen)) {
    p.error(n, "daemon.metrics_listen",
            fmt::format("daemon.metrics_listen = {}: expected \"host:port\" or \"[v6]:port\"",
                        Parser::spell(*n)));
  }
  for (auto key : {"state_dir", "control_socket", "bpf_pin_dir"}) {
    const toml::node* n = t.get(key);
    if (n && n->is_string() && !n->as_string()->get().empty() &&
        n->as_string()->get().front() != '/') {
      p.error(n, fmt::format("daemon.{}", key),
              fmt::format("daemon.{} = {}: must be an absolute path", key, Parser::spell(*n)));
    }
  }
  if (const toml::node* n = t.get("max_experiments")) {
    if (!n->is_integer() || n->as_integer()->get() < 1 || n->as_integer()->get() > 1'000'000) {
      p.error(n, "daemon.max_experiments",
              fmt::format("daemon.max_experiments = {}: expected an integer from 1 to 1000000",
                          Parser::spell(*n)));
    } else {
      d.max_experiments = static_cast<std::uint32_t>(n->as_integer()->get());
    }
  }
  if (const toml::node* n = t.get("project_id_base")) {
    if (!n->is_integer() || n->as_integer()->get() < 0 || n->as_integer()->get() >= kMaxProjectId) {
      p.error(n, "daemon.project_id_base",
              fmt::format("daemon.project_id_base = {}: expected an integer from 0 to {}",
                          Parser::spell(*n), kMaxProjectId - 1));
    } else {
      d.project_id_base = static_cast<std::uint32_t>(n->as_integer()->get());
    }
  }
  if (const toml::node* n = t.get("cgroup_root");
      n && n->is_string() && !d.cgroup_root.empty() && d.cgroup_root.front() != '/') {
    p.error(n, "daemon.cgroup_root",
            fmt::format("daemon.cgroup_root = {}: must be an absolute path (or \"\" to find it "
                        "from /proc/self/mounts)",
                        Parser::spell(*n)));
  }
}

void parse_network(Parser& p, const toml::table& t, NetworkConfig& net) {
  p.check_keys(t, "network", {"interfaces", "link_rate", "enforcement", "kernel_cmdline"});
  if (const toml::node* n = t.get("interfaces")) {
    const toml::array* arr = n->as_array();
    if (!arr || arr->empty()) {
      p.error(n, "network.interfaces",
              fmt::format("network.interfaces = {}: expected a non-empty list of interface names",
                          Parser::spell(*n)));
    } else {
      net.interfaces.clear();
      std::set<std::string> seen;
      for (const toml::node& e : *arr) {
        if (!e.is_string() || !valid_interface_name(e.as_string()->get())) {
          p.error(&e, "network.interfaces",
                  fmt::format("network.interfaces: {} is not an interface name", Parser::spell(e)));
        } else if (!seen.insert(e.as_string()->get()).second) {
          p.error(&e, "network.interfaces",
                  fmt::format("network.interfaces: {} is listed twice", Parser::spell(e)));
        } else {
          net.interfaces.push_back(e.as_string()->get());
        }
      }
    }
  }
  p.unit_value(t, "network", "link_rate", net.link_rate_bits, parse_rate_bits);
  if (const toml::node* n = t.get("link_rate"); n && net.link_rate_bits == 0) {
    p.error(n, "network.link_rate",
            fmt::format("network.link_rate = {}: must be above 0", Parser::spell(*n)));
  }
  if (const toml::node* n = t.get("enforcement")) {
    const std::string v = n->is_string() ? n->as_string()->get() : "";
    if (v == "auto")
      net.enforcement = Enforcement::kAuto;
    else if (v == "edt")
      net.enforcement = Enforcement::kEdt;
    else if (v == "police")
      net.enforcement = Enforcement::kPolice;
    else {
      p.error(n, "network.enforcement",
              fmt::format("network.enforcement = {}: expected \"auto\", \"edt\" or \"police\"",
                          Parser::spell(*n)));
    }
  }
  p.string_value(t, "network", "kernel_cmdline", net.kernel_cmdline);
  if (const toml::node* n = t.get("kernel_cmdline"); n && n->is_string() &&
                                                     !n->as_string()->get().empty() &&
                                                     n->as_string()->get().front() != '/') {
    p.error(n, "network.kernel_cmdline",
            fmt::format("network.kernel_cmdline = {}: must be an absolute path, e.g. "
                        "\"/proc/cmdline\"",
                        Parser::spell(*n)));
  }
}

// The last address of a prefix (all host bits set).
std::array<std::uint8_t, 16> last_address(const Prefix& p) {
  std::array<std::uint8_t, 16> end = p.bytes;
  const int max = p.v6 ? 128 : 32;
  for (int bit = p.length; bit < max; ++bit)
    end[bit / 8] |= static_cast<std::uint8_t>(0x80 >> (bit % 8));
  return end;
}

// No address may belong to two experiments. Sorted by first address, a prefix overlaps an
// earlier one exactly when it starts at or before the furthest end seen so far: O(n log n), so
// that a node with 10,000 experiments starts in a blink. The error goes to the later line.
template <typename Owned>
void check_overlaps(Parser& p, std::vector<Owned>& owned) {
  std::sort(owned.begin(), owned.end(), [](const Owned& a, const Owned& b) {
    if (a.prefix.v6 != b.prefix.v6) return !a.prefix.v6;
    if (a.prefix.bytes != b.prefix.bytes) return a.prefix.bytes < b.prefix.bytes;
    return a.prefix.length < b.prefix.length;
  });
  const Owned* cover = nullptr;  // the earlier prefix that reaches furthest
  std::array<std::uint8_t, 16> cover_end{};
  for (const Owned& o : owned) {
    if (cover && cover->prefix.v6 == o.prefix.v6 && o.prefix.bytes <= cover_end) {
      const bool later = o.node->source().begin.line >= cover->node->source().begin.line;
      const Owned& at = later ? o : *cover;
      const Owned& other = later ? *cover : o;
      p.error(at.node, at.where + "." + at.key,
              fmt::format("{}.{}: {} overlaps {} of experiment \"{}\"", at.where, at.key,
                          to_string(at.prefix), to_string(other.prefix), other.experiment));
    }
    const auto end = last_address(o.prefix);
    if (!cover || cover->prefix.v6 != o.prefix.v6 || end > cover_end) {
      cover = &o;
      cover_end = end;
    }
  }
}

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

// Strips trailing slashes ("/cache/data/" and "/cache/data" are one directory).
std::string without_trailing_slashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

void parse_experiments(Parser& p, const toml::node& node, Config& c,
                       const CmdlineReader& read_cmdline) {
  const toml::array* arr = node.as_array();
  if (!arr || !arr->is_array_of_tables()) {
    p.error(&node, "experiment", "experiment must be written as [[experiment]] tables");
    return;
  }
  std::map<std::string, int> names;  // name -> line
  struct Owned {
    Prefix prefix;
    std::string experiment;
    std::string where;
    const toml::node* node;
    std::string key;  // "addresses", or "index" for derived addresses
  };
  std::vector<Owned> owned;
  // The host's addresses from the kernel command line: read at the first experiment given by
  // index, and its error reported there only.
  std::optional<Expected<EpoxyAddresses>> host;
  struct Claim {  // a cgroup glob, data_dir or project id, and who has it
    std::string experiment;
    int line;
  };
  std::map<std::string, Claim> globs;
  std::map<std::string, Claim> data_dirs;
  std::map<std::uint32_t, Claim> project_ids;
  int index = 0;
  for (const toml::node& e : *arr) {
    ++index;
    const toml::table& t = *e.as_table();
    ExperimentConfig x;
    x.id = static_cast<std::uint32_t>(index);
    x.line = static_cast<int>(t.source().begin.line);
    x.allocation = c.defaults;
    std::string where = fmt::format("experiment[{}]", index);
    std::set<std::string_view> known = kAllocationKeys;
    known.insert({"name", "addresses", "wide_prefixes", "index", "pinned_rate", "cgroup",
                  "data_dir", "project_id"});
    p.check_keys(t, where, known);

    const toml::node* name = t.get("name");
    if (!name) {
      p.error_at(x.line, where + ".name", fmt::format("{} has no name", where));
    } else if (!name->is_string() || !valid_experiment_name(name->as_string()->get())) {
      p.error(name, where + ".name",
              fmt::format("{}.name = {}: use 1-63 letters, digits, '-', '_' or '.'", where,
                          Parser::spell(*name)));
    } else {
      x.name = name->as_string()->get();
      where = fmt::format("experiment \"{}\"", x.name);
      if (auto [it, fresh] = names.emplace(x.name, static_cast<int>(name->source().begin.line));
          !fresh) {
        p.error(name, where + ".name",
                fmt::format("experiment name \"{}\" is used twice (first at line {})", x.name,
                            it->second));
      }
    }
    const std::string who = x.name.empty() ? where : fmt::format("experiment \"{}\"", x.name);

    if (const toml::node* w = t.get("wide_prefixes")) {
      if (!w->is_boolean()) {
        p.error(
            w, where + ".wide_prefixes",
            fmt::format("{}.wide_prefixes = {}: expected true or false", where, Parser::spell(*w)));
      } else {
        x.wide_prefixes = w->as_boolean()->get();
      }
    }
    const toml::node* a = t.get("addresses");
    if (a) {
      const toml::array* list = a->as_array();
      if (!list) {
        p.error(a, where + ".addresses",
                fmt::format("{}.addresses = {}: expected a list of addresses", where,
                            Parser::spell(*a)));
      } else {
        for (const toml::node& item : *list) {
          if (!item.is_string()) {
            p.error(&item, where + ".addresses",
                    fmt::format("{}.addresses: {} is not an address string", where,
                                Parser::spell(item)));
            continue;
          }
          auto prefix = parse_prefix(item.as_string()->get());
          if (!prefix) {
            p.error(&item, where + ".addresses",
                    fmt::format("{}.addresses: {}", where, prefix.error().message));
            continue;
          }
          const int shortest = prefix->v6 ? kShortestPrefixV6 : kShortestPrefixV4;
          if (prefix->length == 0) {
            p.error(&item, where + ".addresses",
                    fmt::format("{}.addresses: {} is every address: the host's own traffic (ssh, "
                                "the kubelet) would be held to the experiment's limit",
                                where, to_string(*prefix)));
            continue;
          }
          if (prefix->length < shortest && !x.wide_prefixes) {
            p.error(&item, where + ".addresses",
                    fmt::format("{}.addresses: {} is shorter than /{}: it may hold the host's own "
                                "addresses, whose traffic (ssh, the kubelet) would be held to the "
                                "experiment's limit; set wide_prefixes = true if it is meant",
                                where, to_string(*prefix), shortest));
            continue;
          }
          owned.push_back(Owned{*prefix, x.name, where, &item, "addresses"});
          x.addresses.push_back(*prefix);
        }
      }
    }

    // M-Lab's addressing: the index instead of the addresses (lib/config/index2ip.hpp).
    const toml::node* ix = t.get("index");
    if (ix) {
      const std::string k = where + ".index";
      if (!ix->is_integer() || ix->as_integer()->get() < 1 ||
          ix->as_integer()->get() > kMaxExperimentIndex) {
        p.error(ix, k,
                fmt::format("{} = {}: expected the experiment's M-Lab index, an integer from 1 to "
                            "{}",
                            k, Parser::spell(*ix), kMaxExperimentIndex));
      } else if (a) {
        p.error(ix, k,
                fmt::format("{}: give either addresses (line {}) or index (line {}), not both", who,
                            a->source().begin.line, ix->source().begin.line));
      } else {
        const std::int64_t n = ix->as_integer()->get();
        x.index = static_cast<std::uint32_t>(n);
        const bool first = !host.has_value();
        if (first) {
          const std::string& path = c.network.kernel_cmdline;
          auto text = read_cmdline(path);
          if (!text) {
            host =
                Error{fmt::format("cannot read the kernel command line (network.kernel_cmdline "
                                  "= \"{}\"): {}",
                                  path, text.error().message)};
          } else if (auto parsed = parse_epoxy_cmdline(*text); !parsed) {
            host = Error{fmt::format("{} (from {})", parsed.error().message, path)};
          } else {
            host = std::move(parsed);
          }
        }
        if (!*host) {
          if (first) {
            p.error(ix, k, fmt::format("{} = {}: {}", k, n, host->error().message));
          }
        } else if (auto derived = index_to_addresses(**host, n); !derived) {
          p.error(ix, k, fmt::format("{} = {}: {}", k, n, derived.error().message));
        } else {
          for (const Prefix& prefix : *derived) {
            owned.push_back(Owned{prefix, x.name, where, ix, "index"});
            x.addresses.push_back(prefix);
          }
        }
      }
    }

    const toml::node* glob = t.get("cgroup");
    if (glob) {
      const std::string k = where + ".cgroup";
      if (!glob->is_string()) {
        p.error(glob, k,
                fmt::format("{} = {}: expected a glob over cgroup paths", k, Parser::spell(*glob)));
      } else if (auto why = invalid_cgroup_glob(glob->as_string()->get())) {
        p.error(glob, k, fmt::format("{} = {}: {}", k, Parser::spell(*glob), *why));
      } else {
        x.cgroup = glob->as_string()->get();
        const int line = static_cast<int>(glob->source().begin.line);
        if (auto [it, fresh] = globs.emplace(x.cgroup, Claim{x.name, line}); !fresh) {
          p.error(glob, k,
                  fmt::format("{} = {}: also the cgroup of experiment \"{}\" (line {})", k,
                              Parser::spell(*glob), it->second.experiment, it->second.line));
        }
      }
    }
    // Discovery needs one of the two: addresses (found in the pod's network namespace) or a
    // glob (host-network experiments). Only when neither was written, or the list is empty.
    const bool no_addresses = !a || (a->as_array() && a->as_array()->empty());
    if (no_addresses && !ix && !glob) {
      p.error(a ? a : &t, where + ".addresses",
              fmt::format("{} has no addresses and no cgroup: list its addresses, give its M-Lab "
                          "index (index = N), or for a host-network experiment give cgroup = "
                          "\"<glob under cgroup_root>\"",
                          who));
    }

    if (const toml::node* d = t.get("data_dir")) {
      const std::string k = where + ".data_dir";
      if (!d->is_string()) {
        p.error(d, k, fmt::format("{} = {}: expected a directory path", k, Parser::spell(*d)));
      } else if (d->as_string()->get().empty() || d->as_string()->get().front() != '/' ||
                 without_trailing_slashes(d->as_string()->get()) == "/") {
        p.error(d, k,
                fmt::format("{} = {}: must be an absolute path below /", k, Parser::spell(*d)));
      } else {
        x.data_dir = without_trailing_slashes(d->as_string()->get());
        const int line = static_cast<int>(d->source().begin.line);
        if (auto [it, fresh] = data_dirs.emplace(x.data_dir, Claim{x.name, line}); !fresh) {
          p.error(d, k,
                  fmt::format("{} = {}: also the data_dir of experiment \"{}\" (line {})", k,
                              Parser::spell(*d), it->second.experiment, it->second.line));
        }
      }
    }
    const toml::node* id = t.get("project_id");
    std::uint32_t explicit_id = 0;
    const bool id_ok = integer_value(p, t, where, "project_id", 1, kMaxProjectId, explicit_id);
    if (id && id_ok && !t.get("data_dir")) {
      p.error(id, where + ".project_id",
              fmt::format("{}.project_id = {}: a project id needs a data_dir", where,
                          Parser::spell(*id)));
    } else if (!x.data_dir.empty() && (!id || id_ok)) {
      const std::int64_t derived = std::int64_t{c.daemon.project_id_base} + index;
      if (id) {
        x.project_id = explicit_id;
      } else if (derived > kMaxProjectId) {
        p.error(&t, where + ".project_id",
                fmt::format("{}: its project id would be daemon.project_id_base ({}) + its "
                            "position ({}), above {}: set project_id",
                            who, c.daemon.project_id_base, index, kMaxProjectId));
      } else {
        x.project_id = static_cast<std::uint32_t>(derived);
      }
      const int line = static_cast<int>((id ? id : &t)->source().begin.line);
      // Who holds an id, for the message of a later experiment that wants it too.
      const std::string holder =
          id ? fmt::format("experiment \"{}\" (line {})", x.name, line)
             : fmt::format("experiment \"{}\" (daemon.project_id_base + its position {}, line {})",
                           x.name, index, line);
      if (x.project_id != 0) {
        if (auto [it, fresh] = project_ids.emplace(x.project_id, Claim{holder, line}); !fresh) {
          const std::string how =
              id ? fmt::format("{}.project_id = {}", where, Parser::spell(*id))
                 : fmt::format("{}: project id {} (daemon.project_id_base {} + position {})", who,
                               x.project_id, c.daemon.project_id_base, index);
          p.error(id ? id : &t, where + ".project_id",
                  fmt::format("{}: also the project id of {}; give each experiment its own "
                              "project_id",
                              how, it->second.experiment));
        }
      }
    }

    p.allocation(t, where, x.allocation);
    p.check_allocation(x.allocation, t, where, c.daemon.tick);
    const std::size_t errors_before = p.errors().size();
    p.unit_value(t, where, "pinned_rate", x.pinned_rate_bits, parse_rate_bits);
    if (const toml::node* n = t.get("pinned_rate");
        n && p.errors().size() == errors_before && x.pinned_rate_bits < 8) {
      p.error(n, where + ".pinned_rate",
              fmt::format("{}.pinned_rate = {}: must be at least 8bit", where, Parser::spell(*n)));
    }
    c.experiments.push_back(std::move(x));
  }
  check_overlaps(p, owned);
  if (c.experiments.size() > c.daemon.max_experiments) {
    p.error(&node, "experiment",
            fmt::format("{} experiments configured, daemon.max_experiments is {}",
                        c.experiments.size(), c.daemon.max_experiments));
  }
}

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
    std::string where = fmt::format("device[{}]", index);
    p.check_keys(t, where, {"path", "read_bps", "write_bps", "read_iops", "write_iops"});
    const toml::node* path = t.get("path");
    if (!path) {
      p.error_at(d.line, where + ".path",
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
        p.error(
            path, where + ".path",
            fmt::format("device \"{}\" is listed twice (first at line {})", d.path, it->second));
      }
    }
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
      p.error_at(d.line, where,
                 fmt::format("{} has no capacity: give at least one of read_bps, write_bps, "
                             "read_iops, write_iops",
                             where));
    }
    c.devices.push_back(std::move(d));
  }
}

}  // namespace

std::string format_min_rate(const MinRate& m) {
  return m.is_fraction ? format_percent(m.fraction) : format_rate_bits(m.bits_per_second);
}

std::uint64_t Allocation::min_rate_bits() const {
  if (!min_rate.is_fraction) return min_rate.bits_per_second;
  return static_cast<std::uint64_t>(
      std::llround(min_rate.fraction * static_cast<double>(bandwidth_bits)));
}

bool Allocation::min_rate_is_stop() const {
  return min_rate.is_fraction ? min_rate.fraction == 0 : min_rate.bits_per_second == 0;
}

std::string Allocation::min_rate_problem() const {
  if (min_rate_is_stop() || min_rate_bits() >= kMinRateBits) return {};
  return fmt::format(
      "comes to {} bit/s: must be 0 (a hard stop once the budget is spent) or at "
      "least {}, the datapath's smallest rate",
      min_rate_bits(), format_rate_bits(kMinRateBits));
}

std::string ConfigError::to_string() const {
  if (line > 0) return fmt::format("{}:{}: {}", source, line, message);
  return fmt::format("{}: {}", source, message);
}

std::string_view to_string(Enforcement e) {
  switch (e) {
    case Enforcement::kAuto:
      return "auto";
    case Enforcement::kEdt:
      return "edt";
    case Enforcement::kPolice:
      return "police";
  }
  return "?";
}

Expected<std::string> read_cmdline_file(const std::string& path) {
  // A kernel command line is at most a few KiB (COMMAND_LINE_SIZE); the bound keeps a path such
  // as /dev/zero from being read for ever.
  constexpr std::size_t kMax = 1 << 20;
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{std::strerror(errno)};
  std::string text(kMax + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return Error{std::strerror(errno)};
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMax) return Error{fmt::format("longer than {} bytes", kMax)};
  return text;
}

ConfigResult parse_config(std::string_view text, std::string_view source,
                          const CmdlineReader& read_cmdline) {
  Parser p(source);
  toml::table doc;
  try {
    doc = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    p.error_at(static_cast<int>(e.source().begin.line), "",
               fmt::format("TOML syntax error: {}", e.description()));
    return ConfigResult{std::nullopt, std::move(p.errors())};
  }

  Config c;
  p.check_keys(doc, "", {"daemon", "network", "defaults", "experiment", "device"});
  auto section = [&](std::string_view name) -> const toml::table* {
    const toml::node* n = doc.get(name);
    if (!n) return nullptr;
    if (!n->is_table()) {
      p.error(n, std::string(name), fmt::format("{} must be a table ([{}])", name, name));
      return nullptr;
    }
    return n->as_table();
  };
  // [daemon] first: the tick is needed to check windows.
  if (const toml::table* t = section("daemon")) parse_daemon(p, *t, c.daemon);
  if (const toml::table* t = section("network")) parse_network(p, *t, c.network);
  if (const toml::table* t = section("defaults")) {
    p.check_keys(*t, "defaults", kAllocationKeys);
    p.allocation(*t, "defaults", c.defaults);
    p.check_allocation(c.defaults, *t, "defaults", c.daemon.tick);
  } else if (c.defaults.window.count() % c.daemon.tick.count() != 0) {
    p.error_at(0, "defaults.window",
               fmt::format("the default window (\"{}\") is not a multiple of daemon.tick (\"{}\")",
                           format_duration(c.defaults.window), format_duration(c.daemon.tick)));
  }
  if (const toml::node* n = doc.get("experiment")) parse_experiments(p, *n, c, read_cmdline);
  if (const toml::node* n = doc.get("device")) parse_devices(p, *n, c);

  if (!p.errors().empty()) return ConfigResult{std::nullopt, std::move(p.errors())};
  return ConfigResult{std::move(c), {}};
}

ConfigResult load_config(const std::string& path, const CmdlineReader& read_cmdline) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return ConfigResult{
        std::nullopt,
        {ConfigError{path, 0, "", fmt::format("cannot read {}: {}", path, std::strerror(errno))}}};
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path, read_cmdline);
}

namespace {

// A TOML basic string: quotes, backslashes and control characters escaped (TOML forbids them
// raw; a value parsed from an escape must be written back as one).
std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\u{:04X}", u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

void format_allocation(std::string& out, const Allocation& a) {
  // A float, so that the printed config reads as the contract writes it ("cpu = 1.0").
  if (a.cpu_cores == std::floor(a.cpu_cores)) {
    out += fmt::format("cpu = {:.1f}\n", a.cpu_cores);
  } else {
    out += fmt::format("cpu = {}\n", a.cpu_cores);
  }
  out += fmt::format("memory = {}\n", quote(format_size_bytes(a.memory_bytes)));
  out += fmt::format("disk = {}\n", quote(format_size_bytes(a.disk_bytes)));
  out += fmt::format("disk_io = {}\n", quote(format_percent(a.disk_io_fraction)));
  out += fmt::format("bandwidth = {}\n", quote(format_rate_bits(a.bandwidth_bits)));
  out += fmt::format("window = {}\n", quote(format_duration(a.window)));
  out += fmt::format("min_rate = {}\n", quote(format_min_rate(a.min_rate)));
}

}  // namespace

std::string format_config(const Config& c) {
  std::string out = "[daemon]\n";
  out += fmt::format("tick = {}\n", quote(format_duration(c.daemon.tick)));
  out += fmt::format("state_dir = {}\n", quote(c.daemon.state_dir));
  out += fmt::format("control_socket = {}\n", quote(c.daemon.control_socket));
  out += fmt::format("control_group = {}\n", quote(c.daemon.control_group));
  out += fmt::format("bpf_pin_dir = {}\n", quote(c.daemon.bpf_pin_dir));
  out += fmt::format("metrics_listen = {}\n", quote(c.daemon.metrics_listen));
  out += fmt::format("cgroup_root = {}\n", quote(c.daemon.cgroup_root));
  out += fmt::format("max_experiments = {}\n", c.daemon.max_experiments);
  out += fmt::format("project_id_base = {}\n", c.daemon.project_id_base);
  out += fmt::format("quota_check_interval = {}\n",
                     quote(format_duration(c.daemon.quota_check_interval)));
  out += "\n[network]\ninterfaces = [";
  for (std::size_t i = 0; i < c.network.interfaces.size(); ++i) {
    out += (i ? ", " : "") + quote(c.network.interfaces[i]);
  }
  out += "]\n";
  out += fmt::format("link_rate = {}\n", quote(format_rate_bits(c.network.link_rate_bits)));
  out += fmt::format("enforcement = {}\n", quote(to_string(c.network.enforcement)));
  out += fmt::format("kernel_cmdline = {}\n", quote(c.network.kernel_cmdline));
  out += "\n[defaults]\n";
  format_allocation(out, c.defaults);
  for (const auto& x : c.experiments) {
    out += "\n[[experiment]]\n";
    std::string addresses = "[";
    for (std::size_t i = 0; i < x.addresses.size(); ++i) {
      addresses += (i ? ", " : "") + quote(to_string(x.addresses[i]));
    }
    addresses += "]";
    out += fmt::format("name = {}\n", quote(x.name));
    if (x.index) {
      // The index stays the setting (the file means this host's addresses); the addresses it
      // gives are shown beside it.
      out += fmt::format("index = {}  # addresses = {} (epoxy.ipv4/epoxy.ipv6 + {})\n", x.index,
                         addresses, x.index);
    } else {
      out += fmt::format("addresses = {}\n", addresses);
    }
    if (x.wide_prefixes) out += "wide_prefixes = true\n";
    if (!x.cgroup.empty()) out += fmt::format("cgroup = {}\n", quote(x.cgroup));
    if (!x.data_dir.empty()) {
      out += fmt::format("data_dir = {}\nproject_id = {}\n", quote(x.data_dir), x.project_id);
    }
    format_allocation(out, x.allocation);
    if (x.pinned_rate_bits) {
      out += fmt::format("pinned_rate = {}\n", quote(format_rate_bits(x.pinned_rate_bits)));
    }
  }
  for (const auto& d : c.devices) {
    out += fmt::format("\n[[device]]\npath = {}\n", quote(d.path));
    if (d.read_bps) out += fmt::format("read_bps = {}\n", quote(format_byte_rate(d.read_bps)));
    if (d.write_bps) out += fmt::format("write_bps = {}\n", quote(format_byte_rate(d.write_bps)));
    if (d.read_iops) out += fmt::format("read_iops = {}\n", d.read_iops);
    if (d.write_iops) out += fmt::format("write_iops = {}\n", d.write_iops);
  }
  return out;
}

std::vector<ConfigError> resolve_devices(Config& config, std::string_view source,
                                         const std::string& sysfs) {
  std::vector<ConfigError> errors;
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::string> seen;  // major:minor -> path
  for (std::size_t i = 0; i < config.devices.size(); ++i) {
    DeviceConfig& d = config.devices[i];
    d.resolved = false;
    auto fail = [&](std::string message) {
      errors.push_back(ConfigError{std::string(source), d.line,
                                   fmt::format("device \"{}\".path", d.path),
                                   fmt::format("device \"{}\": {}", d.path, message)});
    };
    struct stat st {};
    if (::stat(d.path.c_str(), &st) != 0) {
      const int err = errno;
      fail(err == ENOENT ? std::string("no such device (the path does not exist)")
                         : fmt::format("cannot stat it: {}", std::strerror(err)));
      continue;
    }
    if (!S_ISBLK(st.st_mode)) {
      const char* kind = S_ISCHR(st.st_mode)   ? "a character device"
                         : S_ISDIR(st.st_mode) ? "a directory"
                         : S_ISREG(st.st_mode) ? "a regular file"
                                               : "not a device";
      fail(fmt::format("not a block device (it is {})", kind));
      continue;
    }
    const std::uint32_t major = ::major(st.st_rdev);
    const std::uint32_t minor = ::minor(st.st_rdev);
    // io.max takes whole disks only: the kernel answers a partition with ENODEV.
    const std::string dev = fmt::format("{}/dev/block/{}:{}", sysfs, major, minor);
    struct stat part {};
    if (::stat((dev + "/partition").c_str(), &part) == 0) {
      std::string disk;
      char target[4096];
      const ssize_t n = ::readlink(dev.c_str(), target, sizeof(target) - 1);
      if (n > 0) {
        std::string link(target, static_cast<std::size_t>(n));
        const auto last = link.rfind('/');
        const auto prev = last == std::string::npos ? std::string::npos : link.rfind('/', last - 1);
        if (prev != std::string::npos) disk = link.substr(prev + 1, last - prev - 1);
      }
      fail(fmt::format("{}:{} is a partition; io.max limits whole disks{}", major, minor,
                       disk.empty() ? "" : fmt::format(" (its disk is /dev/{})", disk)));
      continue;
    }
    if (auto [it, fresh] = seen.emplace(std::pair{major, minor}, d.path); !fresh) {
      fail(fmt::format("the same device ({}:{}) as \"{}\"", major, minor, it->second));
      continue;
    }
    d.major = major;
    d.minor = minor;
    d.resolved = true;
  }
  return errors;
}

}  // namespace enforcer
