// format_config: the effective configuration (defaults applied) as TOML that parse_config
// accepts, as `enforcerd --check-config` prints it.
#include <fmt/format.h>

#include <cmath>
#include <ctime>

#include "base/units.hpp"
#include "config/config.hpp"

namespace enforcer {
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

std::string format_byte_rate(std::uint64_t bytes_per_second) {
  return format_size_bytes(bytes_per_second) + "/s";
}

// Writes `key = value` lines; with the sources, each ends with where its value was written.
class Printer {
 public:
  Printer(std::string& out, const ConfigSources* sources) : out_(out), sources_(sources) {}

  // Keys that follow are of this table ("daemon", `experiment "ndt"`).
  void table(std::string where) { where_ = std::move(where); }
  // `note`: a comment of the value's own, before the origin.
  void line(std::string_view key, const std::string& value, const std::string& note = "") {
    std::string comment = note;
    if (sources_) {
      const std::string origin = origin_of(key);
      comment += (comment.empty() ? "" : "; ") + origin;
    }
    out_ += fmt::format("{} = {}{}\n", key, value, comment.empty() ? "" : "  # " + comment);
  }

 private:
  std::string origin_of(std::string_view key) const {
    auto it = sources_->origins.find(fmt::format("{}.{}", where_, key));
    std::string via;
    // An experiment's allocation key it does not set comes from [defaults].
    if (it == sources_->origins.end() && where_.rfind("experiment ", 0) == 0) {
      it = sources_->origins.find(fmt::format("defaults.{}", key));
      via = "[defaults], ";
    }
    if (it == sources_->origins.end()) return "default";
    const ValueOrigin& o = it->second;
    std::string text = fmt::format("from {}{}:{}", via, o.file, o.line);
    if (!o.value_file.empty()) text += fmt::format(" (read from {})", o.value_file);
    return text;
  }

  std::string& out_;
  const ConfigSources* sources_;
  std::string where_;
};

void format_allocation(Printer& p, const Allocation& a) {
  // A float, so that the printed config reads as the contract writes it ("cpu = 1.0").
  if (a.cpu_cores == std::floor(a.cpu_cores)) {
    p.line("cpu", fmt::format("{:.1f}", a.cpu_cores));
  } else {
    p.line("cpu", fmt::format("{}", a.cpu_cores));
  }
  p.line("memory", quote(format_size_bytes(a.memory_bytes)));
  p.line("disk", quote(format_size_bytes(a.disk_bytes)));
  p.line("disk_io", quote(format_percent(a.disk_io_fraction)));
  p.line("bandwidth", quote(format_rate_bits(a.bandwidth_bits)));
  p.line("window", quote(format_duration(a.window)));
  p.line("min_rate", quote(format_min_rate(a.min_rate)));
}

void format_daemon(std::string& out, Printer& p, const DaemonConfig& d) {
  out += "[daemon]\n";
  p.table("daemon");
  p.line("tick", quote(format_duration(d.tick)));
  p.line("state_dir", quote(d.state_dir));
  p.line("control_socket", quote(d.control_socket));
  p.line("control_group", quote(d.control_group));
  p.line("bpf_pin_dir", quote(d.bpf_pin_dir));
  p.line("metrics_listen", quote(d.metrics_listen));
  p.line("cgroup_root", quote(d.cgroup_root));
  p.line("max_experiments", fmt::format("{}", d.max_experiments));
  p.line("project_id_base", fmt::format("{}", d.project_id_base));
  p.line("quota_check_interval", quote(format_duration(d.quota_check_interval)));
  if (!d.hostname.empty()) p.line("hostname", quote(d.hostname));
  p.line("on_stop", quote(to_string(d.on_stop)));
  p.line("status_dir", quote(d.status_dir));
  p.line("cgroup_manager", quote(to_string(d.cgroup_manager)));
}

void format_network(std::string& out, Printer& p, const NetworkConfig& net) {
  out += "\n[network]\n";
  p.table("network");
  std::string interfaces = "[";
  for (std::size_t i = 0; i < net.interfaces.size(); ++i) {
    interfaces += (i ? ", " : "") + quote(net.interfaces[i]);
  }
  p.line("interfaces", interfaces + "]");
  p.line("link_rate", quote(format_rate_bits(net.link_rate_bits)));
  p.line("enforcement", quote(to_string(net.enforcement)));
  p.line("kernel_cmdline", quote(net.kernel_cmdline));
}

void format_experiment(std::string& out, Printer& p, const ExperimentConfig& x) {
  out += "\n[[experiment]]\n";
  p.table(fmt::format("experiment \"{}\"", x.name));
  std::string addresses = "[";
  for (std::size_t i = 0; i < x.addresses.size(); ++i) {
    addresses += (i ? ", " : "") + quote(to_string(x.addresses[i]));
  }
  addresses += "]";
  p.line("name", quote(x.name));
  if (x.index) {
    // The index stays the setting (the file means this host's addresses); the addresses it
    // gives are shown beside it.
    p.line("index", fmt::format("{}", x.index),
           fmt::format("addresses = {} (epoxy.ipv4/epoxy.ipv6 + {})", addresses, x.index));
  } else {
    p.line("addresses", addresses);
  }
  if (x.wide_prefixes) p.line("wide_prefixes", "true");
  if (x.optional) p.line("optional", "true");
  if (!x.cgroup.empty()) p.line("cgroup", quote(x.cgroup));
  if (!x.data_dir.empty()) {
    p.line("data_dir", quote(x.data_dir));
    p.line("project_id", fmt::format("{}", x.project_id));
  }
  format_allocation(p, x.allocation);
  if (x.pinned_rate_bits) p.line("pinned_rate", quote(format_rate_bits(x.pinned_rate_bits)));
}

void format_device(std::string& out, Printer& p, const DeviceConfig& d) {
  out += "\n[[device]]\n";
  p.table(fmt::format("device \"{}\"", d.path));
  p.line("path", quote(d.path));
  if (d.read_bps) p.line("read_bps", quote(format_byte_rate(d.read_bps)));
  if (d.write_bps) p.line("write_bps", quote(format_byte_rate(d.write_bps)));
  if (d.read_iops) p.line("read_iops", fmt::format("{}", d.read_iops));
  if (d.write_iops) p.line("write_iops", fmt::format("{}", d.write_iops));
}

void format_override(std::string& out, const ConfigOverride& o, bool with_origin) {
  out += "\n[[override]]";
  if (with_origin) out += fmt::format("  # from {}:{}", o.file, o.line);
  out += fmt::format("\nexperiment = {}\nresource = {}\nvalue = {}\nreason = {}\n",
                     quote(o.experiment), quote(o.resource), quote(o.value), quote(o.reason));
  if (o.until_unix) {
    const auto t = static_cast<std::time_t>(*o.until_unix);
    std::tm tm{};
    char text[64] = "";
    if (::gmtime_r(&t, &tm)) std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    out += fmt::format("until = {}\n", text);
  }
}

// What was read, skipped and left out, as comments before the values.
void format_sources(std::string& out, const ConfigSources& s) {
  for (const auto& f : s.files) out += fmt::format("# read: {}\n", f);
  for (const auto& k : s.skipped) out += fmt::format("# skipped: {}: {}\n", k.file, k.why);
  for (const auto& [who, o] : s.disabled) {
    out += fmt::format("# disabled on this host: {} (enabled = false at {}:{})\n", who, o.file,
                       o.line);
  }
  for (const auto& f : s.watched_files) out += fmt::format("# value file: {}\n", f);
}

}  // namespace

std::string format_config(const Config& c, const ConfigSources* sources) {
  std::string out;
  if (sources) format_sources(out, *sources);
  Printer p(out, sources);
  format_daemon(out, p, c.daemon);
  format_network(out, p, c.network);
  out += "\n[defaults]\n";
  p.table("defaults");
  format_allocation(p, c.defaults);
  for (const auto& x : c.experiments) format_experiment(out, p, x);
  for (const auto& d : c.devices) format_device(out, p, d);
  for (const auto& o : c.overrides) format_override(out, o, sources != nullptr);
  return out;
}

}  // namespace enforcer
