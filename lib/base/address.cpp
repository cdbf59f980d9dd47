#include "base/address.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <charconv>

namespace enforcer {

Expected<Prefix> parse_prefix(std::string_view text) {
  Prefix p;
  std::string_view addr = text;
  int length = -1;
  if (const auto slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    const std::string_view len = text.substr(slash + 1);
    const auto [ptr, ec] = std::from_chars(len.data(), len.data() + len.size(), length);
    if (ec != std::errc{} || ptr != len.data() + len.size() || len.empty() || len[0] < '0' ||
        len[0] > '9') {
      return Error{fmt::format("\"{}\": bad prefix length \"{}\"", text, len)};
    }
  }
  const std::string a(addr);
  if (inet_pton(AF_INET, a.c_str(), p.bytes.data()) == 1) {
    p.v6 = false;
  } else if (inet_pton(AF_INET6, a.c_str(), p.bytes.data()) == 1) {
    p.v6 = true;
  } else {
    return Error{fmt::format("\"{}\" is not an IPv4 or IPv6 address", text)};
  }
  const int max = p.v6 ? 128 : 32;
  if (length < 0) length = max;
  if (length > max) {
    return Error{fmt::format("\"{}\": prefix length {} exceeds {}", text, length, max)};
  }
  p.length = static_cast<std::uint8_t>(length);
  for (int bit = length; bit < max; ++bit) {
    if (p.bytes[bit / 8] & (0x80 >> (bit % 8))) {
      return Error{fmt::format("\"{}\": address has bits set beyond the /{} prefix", text, length)};
    }
  }
  return p;
}

std::string to_string(const Prefix& p) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(p.v6 ? AF_INET6 : AF_INET, p.bytes.data(), buf, sizeof buf);
  const int max = p.v6 ? 128 : 32;
  if (p.length == max) return buf;
  return fmt::format("{}/{}", buf, p.length);
}

bool overlaps(const Prefix& a, const Prefix& b) {
  if (a.v6 != b.v6) return false;
  const int common = a.length < b.length ? a.length : b.length;
  for (int bit = 0; bit < common; ++bit) {
    const std::uint8_t mask = 0x80 >> (bit % 8);
    if ((a.bytes[bit / 8] & mask) != (b.bytes[bit / 8] & mask)) return false;
  }
  return true;
}

}  // namespace enforcer
