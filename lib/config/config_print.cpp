// format_config: the effective configuration (defaults applied) as TOML that parse_config
// accepts, as `enforcerd --check-config` prints it.
#include <fmt/format.h>

#include <cmath>

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

void format_daemon(std::string& out, const DaemonConfig& d) {
  out += "[daemon]\n";
  out += fmt::format("tick = {}\n", quote(format_duration(d.tick)));
  out += fmt::format("state_dir = {}\n", quote(d.state_dir));
  out += fmt::format("control_socket = {}\n", quote(d.control_socket));
  out += fmt::format("control_group = {}\n", quote(d.control_group));
  out += fmt::format("bpf_pin_dir = {}\n", quote(d.bpf_pin_dir));
  out += fmt::format("metrics_listen = {}\n", quote(d.metrics_listen));
  out += fmt::format("cgroup_root = {}\n", quote(d.cgroup_root));
  out += fmt::format("max_experiments = {}\n", d.max_experiments);
  out += fmt::format("project_id_base = {}\n", d.project_id_base);
  out += fmt::format("quota_check_interval = {}\n", quote(format_duration(d.quota_check_interval)));
}

void format_network(std::string& out, const NetworkConfig& net) {
  out += "\n[network]\ninterfaces = [";
  for (std::size_t i = 0; i < net.interfaces.size(); ++i) {
    out += (i ? ", " : "") + quote(net.interfaces[i]);
  }
  out += "]\n";
  out += fmt::format("link_rate = {}\n", quote(format_rate_bits(net.link_rate_bits)));
  out += fmt::format("enforcement = {}\n", quote(to_string(net.enforcement)));
  out += fmt::format("kernel_cmdline = {}\n", quote(net.kernel_cmdline));
}

void format_experiment(std::string& out, const ExperimentConfig& x) {
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

void format_device(std::string& out, const DeviceConfig& d) {
  out += fmt::format("\n[[device]]\npath = {}\n", quote(d.path));
  if (d.read_bps) out += fmt::format("read_bps = {}\n", quote(format_byte_rate(d.read_bps)));
  if (d.write_bps) out += fmt::format("write_bps = {}\n", quote(format_byte_rate(d.write_bps)));
  if (d.read_iops) out += fmt::format("read_iops = {}\n", d.read_iops);
  if (d.write_iops) out += fmt::format("write_iops = {}\n", d.write_iops);
}

}  // namespace

std::string format_config(const Config& c) {
  std::string out;
  format_daemon(out, c.daemon);
  format_network(out, c.network);
  out += "\n[defaults]\n";
  format_allocation(out, c.defaults);
  for (const auto& x : c.experiments) format_experiment(out, x);
  for (const auto& d : c.devices) format_device(out, d);
  return out;
}

}  // namespace enforcer
