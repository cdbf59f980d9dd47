// The addresses configured in a pod's network namespace: an RTM_GETADDR dump over a netlink
// socket opened inside that namespace (lib/base/interface_addresses.hpp reads it).
#include <fmt/format.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <thread>
#include <tuple>

#include "base/fd.hpp"
#include "base/interface_addresses.hpp"
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

}  // namespace

Expected<std::vector<Prefix>> netns_addresses(int netns_fd) {
  auto sock = netlink_socket_in(netns_fd);
  if (!sock) return sock.error();
  auto dumped = dump_interface_addresses(sock->get());
  if (!dumped) return dumped.error();
  std::vector<Prefix> out;
  for (const auto& a : *dumped) out.push_back(a.address);
  std::sort(out.begin(), out.end(), [](const Prefix& a, const Prefix& b) {
    return std::tie(a.v6, a.bytes) < std::tie(b.v6, b.bytes);
  });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace enforcer
