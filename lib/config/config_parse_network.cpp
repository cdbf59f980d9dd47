// Reads the [network] table: the interfaces (or "auto": the one holding the host's address), the
// link rate, the enforcement mode and where the kernel command line is read.
#include "base/units.hpp"
#include "config/config_parse.hpp"
#include "config/index2ip.hpp"

namespace enforcer::config_parse {
namespace {

bool valid_interface_name(std::string_view name) {
  if (name.empty() || name.size() > 15) return false;  // IFNAMSIZ - 1
  for (char c : name) {
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\0') return false;
  }
  return name != "." && name != "..";
}

// network.interfaces: a non-empty list of distinct interface names, or ["auto"].
void read_interfaces(Parser& p, const toml::table& t, NetworkConfig& net) {
  const toml::node* n = t.get("interfaces");
  if (!n) return;
  const toml::array* arr = n->as_array();
  if (!arr || arr->empty()) {
    p.error(n, "network.interfaces",
            fmt::format("network.interfaces = {}: expected a non-empty list of interface names",
                        Parser::spell(*n)));
    return;
  }
  net.interfaces.clear();
  std::set<std::string> seen;
  for (const toml::node& e : *arr) {
    if (!e.is_string() || !valid_interface_name(e.as_string()->get())) {
      p.error(&e, "network.interfaces",
              fmt::format("network.interfaces: {} is not an interface name", Parser::spell(e)));
    } else if (e.as_string()->get() == kAutoInterface && arr->size() > 1) {
      p.error(&e, "network.interfaces",
              fmt::format("network.interfaces: \"{}\" finds the uplink by the host's address and "
                          "must be the only entry",
                          kAutoInterface));
    } else if (!seen.insert(e.as_string()->get()).second) {
      p.error(&e, "network.interfaces",
              fmt::format("network.interfaces: {} is listed twice", Parser::spell(e)));
    } else {
      net.interfaces.push_back(e.as_string()->get());
    }
  }
}

void read_enforcement(Parser& p, const toml::table& t, NetworkConfig& net) {
  const toml::node* n = t.get("enforcement");
  if (!n) return;
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

// interfaces = ["auto"]: the host's own address, epoxy.ipv4= on the kernel command line (the
// address, not the interface's name, is stable across M-Lab's boots).
void read_uplink_address(Parser& p, const toml::table& t, NetworkConfig& net,
                         const CmdlineReader& read_cmdline) {
  if (net.interfaces != std::vector<std::string>{std::string(kAutoInterface)}) return;
  const std::string why = fmt::format(
      "network.interfaces = [\"{}\"] finds the uplink by the host's address, epoxy.ipv4= in "
      "the kernel command line (network.kernel_cmdline = \"{}\")",
      kAutoInterface, net.kernel_cmdline);
  auto text = read_cmdline(net.kernel_cmdline);
  if (!text) {
    p.error(t.get("interfaces"), "network.interfaces",
            fmt::format("{}: cannot read it: {}", why, text.error().message));
    return;
  }
  auto host = parse_epoxy_cmdline(*text);
  if (!host) {
    p.error(t.get("interfaces"), "network.interfaces",
            fmt::format("{}: {}", why, host.error().message));
    return;
  }
  net.uplink_address = host->ipv4.address;
}

}  // namespace

void parse_network(Parser& p, const toml::table& t, NetworkConfig& net,
                   const CmdlineReader& read_cmdline) {
  p.check_keys(t, "network", {"interfaces", "link_rate", "enforcement", "kernel_cmdline"});
  read_interfaces(p, t, net);
  p.unit_value(t, "network", "link_rate", net.link_rate_bits, parse_rate_bits);
  if (const toml::node* n = t.get("link_rate"); n && net.link_rate_bits == 0) {
    p.error(n, "network.link_rate",
            fmt::format("network.link_rate = {}: must be above 0", Parser::spell(*n)));
  }
  read_enforcement(p, t, net);
  p.string_value(t, "network", "kernel_cmdline", net.kernel_cmdline);
  if (const toml::node* n = t.get("kernel_cmdline"); n && n->is_string() &&
                                                     !n->as_string()->get().empty() &&
                                                     n->as_string()->get().front() != '/') {
    p.error(n, "network.kernel_cmdline",
            fmt::format("network.kernel_cmdline = {}: must be an absolute path, e.g. "
                        "\"/proc/cmdline\"",
                        Parser::spell(*n)));
  }
  read_uplink_address(p, t, net, read_cmdline);
}

}  // namespace enforcer::config_parse
