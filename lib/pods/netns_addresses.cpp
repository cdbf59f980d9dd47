// The addresses configured in a pod's network namespace: an RTM_GETADDR dump over a netlink
// socket opened inside that namespace, and the parser of the dump.
#include <fmt/format.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <thread>
#include <tuple>

#include "base/fd.hpp"
#include "base/netlink.hpp"
#include "pods/discovery.hpp"

namespace enforcer {

namespace {

// A netlink socket created in the namespace `netns_fd` refers to. The thread that creates it
// enters the namespace and ends; the socket stays in the namespace it was created in.
Expected<Fd> netlink_socket_in(int netns_fd) {
  int sock = -1;
  int err = 0;
  const char* what = "";
  try {
    std::thread t([&] {
      // setns(CLONE_NEWNET) switches this thread's namespace only (per-thread nsproxy); the
      // thread ends right after, and no other thread of the process ever sees the change.
      if (::setns(netns_fd, CLONE_NEWNET) != 0) {
        err = errno;
        what = "setns(CLONE_NEWNET)";
        return;
      }
      sock = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
      if (sock < 0) {
        err = errno;
        what = "rtnetlink socket";
      }
    });
    t.join();
  } catch (const std::system_error& e) {
    return Error{fmt::format("cannot start a thread to enter the namespace: {}", e.what())};
  }
  if (sock < 0) return Error{fmt::format("{}: {}", what, std::strerror(err))};
  return Fd(sock);
}

Expected<std::vector<Prefix>> dump_addresses(int sock) {
  const timeval timeout{2, 0};  // the kernel answers at once; never hang the daemon's loop
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (::bind(sock, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
    return Error{fmt::format("rtnetlink bind: {}", std::strerror(errno))};
  }
  ifaddrmsg request{};
  request.ifa_family = AF_UNSPEC;  // IPv4 and IPv6
  std::vector<Prefix> out;
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
  std::sort(out.begin(), out.end(), [](const Prefix& a, const Prefix& b) {
    return std::tie(a.v6, a.bytes) < std::tie(b.v6, b.bytes);
  });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

bool parse_address_dump(const void* data, std::size_t size, std::vector<Prefix>& out) {
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
      std::size_t off = NLMSG_LENGTH(sizeof(ifaddrmsg));
      off = NLMSG_ALIGN(off);
      while (off + sizeof(rtattr) <= nh.nlmsg_len) {
        rtattr rta;
        std::memcpy(&rta, p + off, sizeof rta);
        if (rta.rta_len < sizeof(rtattr) || off + rta.rta_len > nh.nlmsg_len) return false;
        const std::size_t payload = rta.rta_len - RTA_LENGTH(0);
        const char* value = p + off + RTA_LENGTH(0);
        if (rta.rta_type == IFA_LOCAL && payload >= alen) local = value;
        if (rta.rta_type == IFA_ADDRESS && payload >= alen) address = value;
        off += RTA_ALIGN(rta.rta_len);
      }
      const char* a = local != nullptr ? local : address;
      if (wanted && a != nullptr) {
        Prefix prefix;
        prefix.v6 = v6;
        prefix.length = v6 ? 128 : 32;
        std::memcpy(prefix.bytes.data(), a, alen);
        out.push_back(prefix);
      }
    }
    const std::size_t step = NLMSG_ALIGN(nh.nlmsg_len);
    if (step >= size) break;
    p += step;
    size -= step;
  }
  return true;
}

Expected<std::vector<Prefix>> netns_addresses(int netns_fd) {
  auto sock = netlink_socket_in(netns_fd);
  if (!sock) return sock.error();
  return dump_addresses(sock->get());
}

}  // namespace enforcer
