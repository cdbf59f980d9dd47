#include "config/index2ip.hpp"

#include <fmt/format.h>
#include <charconv>
#include <string>

namespace enforcer {
namespace {

// The kernel's own splitting of its command line (lib/cmdline.c, next_arg): parameters are
// separated by white space, and double quotes keep white space inside one; the quotes are not
// part of the value.
std::vector<std::string> split_cmdline(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  bool in_token = false;
  bool quoted = false;
  for (char c : text) {
    // The kernel's isspace(), not base's is_space(): \v and \f separate parameters too, and a
    // boot loader's command line may hold them, so base's trim would not split the same way.
    const bool blank = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
    if (blank && !quoted) {
      if (in_token) out.push_back(std::move(current));
      current.clear();
      in_token = false;
      continue;
    }
    in_token = true;
    if (c == '"') {
      quoted = !quoted;
    } else {
      current += c;
    }
  }
  if (in_token) out.push_back(std::move(current));
  return out;
}

// The first value of `key=` on the command line; nullopt when the parameter is absent.
std::optional<std::string> find_parameter(const std::vector<std::string>& params,
                                          std::string_view key) {
  for (const std::string& p : params) {
    if (p.size() > key.size() && p.compare(0, key.size(), key) == 0 && p[key.size()] == '=') {
      return p.substr(key.size() + 1);
    }
    if (p == key) return std::string();  // "epoxy.ipv6" alone: no value
  }
  return std::nullopt;
}

// "<address>/<length>,<gateway>,<dns1>,<dns2>": the host's address and subnet length.
Expected<HostAddress> parse_host(std::string_view key, std::string_view value, bool v6) {
  const char* family = v6 ? "IPv6" : "IPv4";
  const auto format_hint = [&] {
    return fmt::format("expected {}=<address>/<length>,<gateway>,<dns1>,<dns2>", key);
  };
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = value.find(',', start);
    fields.push_back(value.substr(start, comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  // index2ip (MakeGenericIPConfig) refuses anything but four fields.
  if (fields.size() != 4) {
    return Error{fmt::format("{}={}: {} fields where there should be 4 ({})", key, value,
                             fields.size(), format_hint())};
  }
  const std::string_view first = fields[0];
  const std::size_t slash = first.find('/');
  if (slash == std::string_view::npos) {
    return Error{
        fmt::format("{}={}: \"{}\" has no /<length> ({})", key, value, first, format_hint())};
  }
  auto address = parse_prefix(first.substr(0, slash));
  if (!address || address->v6 != v6 || address->length != (v6 ? 128 : 32)) {
    return Error{fmt::format("{}={}: \"{}\" is not an {} address", key, value,
                             first.substr(0, slash), family)};
  }
  const std::string_view len = first.substr(slash + 1);
  int length = -1;
  const auto [ptr, ec] = std::from_chars(len.data(), len.data() + len.size(), length);
  if (len.empty() || len[0] < '0' || len[0] > '9' || ec != std::errc{} ||
      ptr != len.data() + len.size() || length > (v6 ? 128 : 32)) {
    return Error{fmt::format("{}={}: \"/{}\" is not an {} prefix length", key, value, len, family)};
  }
  return HostAddress{*address, static_cast<std::uint8_t>(length)};
}

Expected<HostAddress> find_host(const std::vector<std::string>& params, std::string_view key,
                                bool v6, bool& absent) {
  absent = false;
  const auto value = find_parameter(params, key);
  if (!value || value->empty()) {
    absent = true;
    return Error{
        fmt::format("the kernel command line has {} {}= parameter (M-Lab's ePoxy boots a node with "
                    "{}=<address>/<length>,<gateway>,<dns1>,<dns2>)",
                    value ? "an empty" : "no", key, key)};
  }
  return parse_host(key, *value, v6);
}

// True when a and b agree in their first `bits` bits.
bool same_prefix(const Prefix& a, const Prefix& b, int bits) {
  for (int bit = 0; bit < bits; ++bit) {
    const std::uint8_t mask = static_cast<std::uint8_t>(0x80 >> (bit % 8));
    if ((a.bytes[bit / 8] & mask) != (b.bytes[bit / 8] & mask)) return false;
  }
  return true;
}

// The host's subnet as text: "4.14.159.64/26".
std::string subnet_text(const HostAddress& host) {
  Prefix net = host.address;
  const int max = net.v6 ? 128 : 32;
  for (int bit = host.subnet_length; bit < max; ++bit) {
    net.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
  }
  net.length = net.v6 ? 128 : 32;
  return fmt::format("{}/{}", to_string(net), host.subnet_length);
}

Expected<void> check_index(std::int64_t index) {
  if (index < 1) {
    return Error{
        fmt::format("index {}: must be at least 1 (M-Lab numbers experiments from 1)", index)};
  }
  return {};
}

}  // namespace

Expected<EpoxyAddresses> parse_epoxy_cmdline(std::string_view cmdline) {
  const std::vector<std::string> params = split_cmdline(cmdline);
  bool absent = false;
  auto v4 = find_host(params, "epoxy.ipv4", false, absent);
  if (!v4) return v4.error();
  EpoxyAddresses out{*v4, std::nullopt};
  auto v6 = find_host(params, "epoxy.ipv6", true, absent);
  if (v6) {
    out.ipv6 = *v6;
  } else if (!absent) {
    return v6.error();  // present but malformed: index2ip fails as well
  }
  return out;
}

Expected<Prefix> index_to_ipv4(const HostAddress& host, std::int64_t index) {
  if (auto ok = check_index(index); !ok) return ok.error();
  if (host.address.v6) return Error{"index_to_ipv4: the host address is IPv6"};
  const std::string from = to_string(host.address);
  const std::int64_t last = host.address.bytes[3];
  if (index > 255 - last) {
    return Error{fmt::format("{} (epoxy.ipv4) + {} is past .255", from, index)};
  }
  Prefix out = host.address;
  out.bytes[3] = static_cast<std::uint8_t>(last + index);
  const std::string to = to_string(out);
  if (!same_prefix(out, host.address, host.subnet_length)) {
    return Error{fmt::format("{} (epoxy.ipv4) + {} = {} is outside the host's subnet {}", from,
                             index, to, subnet_text(host))};
  }
  if (host.subnet_length <= 30) {
    bool all_ones = true;
    for (int bit = host.subnet_length; bit < 32; ++bit) {
      if (!(out.bytes[bit / 8] & (0x80 >> (bit % 8)))) all_ones = false;
    }
    if (all_ones) {
      return Error{
          fmt::format("{} (epoxy.ipv4) + {} = {} is the broadcast address of the host's "
                      "subnet {}",
                      from, index, to, subnet_text(host))};
    }
  }
  return out;
}

Expected<Prefix> index_to_ipv6(const HostAddress& host, std::int64_t index) {
  if (auto ok = check_index(index); !ok) return ok.error();
  if (!host.address.v6) return Error{"index_to_ipv6: the host address is IPv4"};
  const std::string from = to_string(host.address);
  const unsigned group = (unsigned{host.address.bytes[14]} << 8) | host.address.bytes[15];
  // M-Lab writes the group's hex digits to match the IPv4 octet in decimal (::9 beside .9):
  // the digits are read as a decimal number.
  const std::string digits = fmt::format("{:x}", group);
  std::int64_t decimal = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') {
      return Error{fmt::format(
          "the last group of {} (epoxy.ipv6) is \"{}\": index2ip reads its hex digits as a "
          "decimal number (::9 + 2 = ::11) and cannot add to one with a letter",
          from, digits)};
    }
    decimal = decimal * 10 + (c - '0');
  }
  constexpr std::int64_t kMaxGroup = 7999;  // "7999" read as hex is the last that fits int16
  if (index > kMaxGroup - decimal) {
    // (decimal + index is not computed: the index may be anything up to INT64_MAX here.)
    return Error{fmt::format(
        "{} (epoxy.ipv6) + {}: the last group, {} + {}, would be above {} (the most index2ip "
        "writes)",
        from, index, decimal, index, kMaxGroup)};
  }
  // The sum's decimal digits, read as hex.
  unsigned value = 0;
  for (char c : std::to_string(decimal + index))
    value = value * 16 + static_cast<unsigned>(c - '0');
  Prefix out = host.address;
  out.bytes[14] = static_cast<std::uint8_t>(value >> 8);
  out.bytes[15] = static_cast<std::uint8_t>(value & 0xff);
  if (!same_prefix(out, host.address, host.subnet_length)) {
    return Error{fmt::format("{} (epoxy.ipv6) + {} = {} is outside the host's subnet {}", from,
                             index, to_string(out), subnet_text(host))};
  }
  return out;
}

Expected<std::vector<Prefix>> index_to_addresses(const EpoxyAddresses& host, std::int64_t index) {
  std::vector<Prefix> out;
  auto v4 = index_to_ipv4(host.ipv4, index);
  if (!v4) return v4.error();
  out.push_back(*v4);
  if (host.ipv6) {
    auto v6 = index_to_ipv6(*host.ipv6, index);
    if (!v6) return v6.error();
    out.push_back(*v6);
  }
  return out;
}

}  // namespace enforcer
