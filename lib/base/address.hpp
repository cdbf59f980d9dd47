// IPv4/IPv6 addresses and prefixes as the config names them ("198.18.0.10", "2001:db8::/64").
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/expected.hpp"

namespace enforcer {

struct Prefix {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // network byte order; IPv4 uses the first 4
  std::uint8_t length = 0;               // prefix length in bits

  bool operator==(const Prefix&) const = default;
};

// An address (a full-length prefix) or "address/length". Host bits beyond the length must be 0.
Expected<Prefix> parse_prefix(std::string_view text);
std::string to_string(const Prefix& p);
// True when one prefix contains the other (they share an address).
bool overlaps(const Prefix& a, const Prefix& b);

}  // namespace enforcer
