#include "base/interface_addresses.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <span>

#include "base/fd.hpp"
#include "base/netlink.hpp"

namespace enforcer {

bool parse_address_dump(const void* data, std::size_t size, std::vector<InterfaceAddress>& out) {
  const char* p = static_cast<const char*>(data);
  while (size >= sizeof(nlmsghdr)) {
    nlmsghdr nh;
    std::memcpy(&nh, p, sizeof nh);
    if (nh.nlmsg_len < sizeof(nlmsghdr) || nh.nlmsg_len > size) return false;
    if (nh.nlmsg_type == RTM_NEWADDR) {
      if (nh.nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg))) return false;
      ifaddrmsg ifa;
      std::memcpy(&ifa, p + NLMSG_HDRLEN, sizeof ifa);
      const bool v6 = ifa.ifa_family == AF_INET6;
      const std::size_t alen = v6 ? 16 : 4;
      const bool wanted = (ifa.ifa_family == AF_INET || v6) &&
                          (ifa.ifa_scope == RT_SCOPE_UNIVERSE || ifa.ifa_scope == RT_SCOPE_SITE);
      const char* local = nullptr;
      const char* address = nullptr;
      std::size_t off = NLMSG_ALIGN(NLMSG_LENGTH(sizeof(ifaddrmsg)));
      while (off + sizeof(rtattr) <= nh.nlmsg_len) {
        rtattr rta;
        std::memcpy(&rta, p + off, sizeof rta);
        if (rta.rta_len < sizeof(rtattr) || off + rta.rta_len > nh.nlmsg_len) return false;
        const std::size_t payload = rta.rta_len - RTA_LENGTH(0);
        const char* value = p + off + RTA_LENGTH(0);
        // Point-to-point links: IFA_ADDRESS is the peer's, IFA_LOCAL ours.
        if (rta.rta_type == IFA_LOCAL && payload >= alen) local = value;
        if (rta.rta_type == IFA_ADDRESS && payload >= alen) address = value;
        off += RTA_ALIGN(rta.rta_len);
      }
      const char* a = local != nullptr ? local : address;
      if (wanted && a != nullptr) {
        InterfaceAddress entry;
        entry.ifindex = static_cast<int>(ifa.ifa_index);
        entry.address.v6 = v6;
        entry.address.length = v6 ? 128 : 32;
        std::memcpy(entry.address.bytes.data(), a, alen);
        out.push_back(entry);
      }
    }
    const std::size_t step = NLMSG_ALIGN(nh.nlmsg_len);
    if (step >= size) break;
    p += step;
    size -= step;
  }
  return true;
}

Expected<std::vector<InterfaceAddress>> dump_interface_addresses(int sock) {
  const timeval timeout{2, 0};
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (::bind(sock, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
    return errno_error(errno, "rtnetlink bind");
  }
  ifaddrmsg request{};
  request.ifa_family = AF_UNSPEC;  // IPv4 and IPv6
  std::vector<InterfaceAddress> out;
  const auto dumped = netlink_dump(
      sock,
      NetlinkDumpRequest{"RTM_GETADDR dump", RTM_GETADDR,
                         std::span(reinterpret_cast<const char*>(&request), sizeof request)},
      [&] { out.clear(); },
      [&](const NetlinkMessage& m) -> Expected<void> {
        if (m.header.nlmsg_type == RTM_NEWADDR &&
            !parse_address_dump(m.bytes.data(), m.bytes.size(), out)) {
          return Error{"malformed RTM_NEWADDR"};
        }
        return {};
      });
  if (!dumped) return dumped.error();
  return out;
}

Expected<std::vector<InterfaceAddress>> interface_addresses() {
  const Fd sock(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!sock) return errno_error(errno, "rtnetlink socket");
  return dump_interface_addresses(sock.get());
}

}  // namespace enforcer
