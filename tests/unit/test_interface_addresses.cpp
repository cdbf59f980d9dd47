// The RTM_NEWADDR dump parser: which addresses it keeps, on which interface, and what it refuses.
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "base/interface_addresses.hpp"

using namespace enforcer;

namespace {

// One RTM_NEWADDR message with the given attributes (type, bytes).
void add_newaddr(std::vector<char>& buf, int family, int scope, int ifindex,
                 std::vector<std::pair<int, std::vector<std::uint8_t>>> attrs) {
  const std::size_t start = buf.size();
  std::size_t len = NLMSG_LENGTH(sizeof(ifaddrmsg));
  for (const auto& [type, bytes] : attrs) len = NLMSG_ALIGN(len) + RTA_LENGTH(bytes.size());
  buf.resize(start + NLMSG_ALIGN(len), 0);
  nlmsghdr nh{};
  nh.nlmsg_len = static_cast<std::uint32_t>(len);
  nh.nlmsg_type = RTM_NEWADDR;
  nh.nlmsg_flags = NLM_F_MULTI;
  std::memcpy(buf.data() + start, &nh, sizeof nh);
  ifaddrmsg ifa{};
  ifa.ifa_family = static_cast<std::uint8_t>(family);
  ifa.ifa_scope = static_cast<std::uint8_t>(scope);
  ifa.ifa_index = static_cast<std::uint32_t>(ifindex);
  ifa.ifa_prefixlen = family == AF_INET ? 24 : 64;
  std::memcpy(buf.data() + start + NLMSG_HDRLEN, &ifa, sizeof ifa);
  std::size_t off = NLMSG_ALIGN(NLMSG_LENGTH(sizeof(ifaddrmsg)));
  for (const auto& [type, bytes] : attrs) {
    rtattr rta{};
    rta.rta_len = static_cast<unsigned short>(RTA_LENGTH(bytes.size()));
    rta.rta_type = static_cast<unsigned short>(type);
    std::memcpy(buf.data() + start + off, &rta, sizeof rta);
    std::memcpy(buf.data() + start + off + RTA_LENGTH(0), bytes.data(), bytes.size());
    off += RTA_ALIGN(rta.rta_len);
  }
}

std::vector<std::uint8_t> raw(const char* address) {
  const auto p = parse_prefix(address);
  REQUIRE(p.ok());
  return {p->bytes.begin(), p->bytes.begin() + (p->v6 ? 16 : 4)};
}

}  // namespace

TEST_CASE("the RTM_NEWADDR parser keeps global addresses only", "[netlink]") {
  std::vector<char> buf;
  add_newaddr(buf, AF_INET, RT_SCOPE_UNIVERSE, 2,
              {{IFA_ADDRESS, raw("198.18.5.10")}, {IFA_LOCAL, raw("198.18.5.10")}});
  // Point-to-point: IFA_ADDRESS is the peer, IFA_LOCAL ours.
  add_newaddr(buf, AF_INET, RT_SCOPE_UNIVERSE, 3,
              {{IFA_ADDRESS, raw("198.18.9.1")}, {IFA_LOCAL, raw("198.18.9.2")}});
  add_newaddr(buf, AF_INET, RT_SCOPE_HOST, 1, {{IFA_LOCAL, raw("127.0.0.1")}});
  add_newaddr(buf, AF_INET6, RT_SCOPE_UNIVERSE, 2, {{IFA_ADDRESS, raw("2001:db8:5::10")}});
  add_newaddr(buf, AF_INET6, RT_SCOPE_HOST, 1, {{IFA_ADDRESS, raw("::1")}});
  add_newaddr(buf, AF_INET6, RT_SCOPE_LINK, 2, {{IFA_ADDRESS, raw("fe80::1")}});
  std::vector<InterfaceAddress> out;
  REQUIRE(parse_address_dump(buf.data(), buf.size(), out));
  REQUIRE(out.size() == 3);
  CHECK(to_string(out[0].address) == "198.18.5.10");
  CHECK(out[0].ifindex == 2);
  CHECK(to_string(out[1].address) == "198.18.9.2");
  CHECK(out[1].ifindex == 3);
  CHECK(to_string(out[2].address) == "2001:db8:5::10");
  CHECK(out[2].ifindex == 2);

  SECTION("a truncated message is rejected") {
    std::vector<InterfaceAddress> none;
    CHECK_FALSE(parse_address_dump(buf.data(), buf.size() - 4, none));
  }
}
