// parse_netlink_batch on crafted buffers: what one recv() of a dump can hold, and how it ends.
// netlink_dump() itself (the socket, EINTR, the restarts) is run against a kernel by the kernel
// tier's discovery test and by the qdisc reader.
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "base/netlink.hpp"

using namespace enforcer;
using Catch::Matchers::Contains;

namespace {

// Appends one message of `type` with a payload of `payload` bytes (0xab), aligned as the kernel
// aligns them.
void add(std::vector<char>& buf, std::uint16_t type, std::uint16_t flags = NLM_F_MULTI,
         std::size_t payload = 8) {
  nlmsghdr nh{};
  nh.nlmsg_len = static_cast<std::uint32_t>(NLMSG_LENGTH(payload));
  nh.nlmsg_type = type;
  nh.nlmsg_flags = flags;
  const std::size_t at = buf.size();
  buf.resize(at + NLMSG_SPACE(payload), '\0');
  std::memcpy(buf.data() + at, &nh, sizeof nh);
  std::memset(buf.data() + at + NLMSG_HDRLEN, 0xab, payload);
}

void add_error(std::vector<char>& buf, int error) {
  nlmsgerr e{};
  e.error = error;
  const std::size_t at = buf.size();
  add(buf, NLMSG_ERROR, 0, sizeof e);
  std::memcpy(buf.data() + at + NLMSG_HDRLEN, &e, sizeof e);
}

struct Seen {
  std::vector<std::uint16_t> types;
  std::vector<std::size_t> sizes;
  NetlinkHandler handler() {
    return [this](const NetlinkMessage& m) -> Expected<void> {
      types.push_back(m.header.nlmsg_type);
      sizes.push_back(m.bytes.size());
      return {};
    };
  }
};

}  // namespace

TEST_CASE("netlink batch: every reply is handed over, NLMSG_DONE ends the dump", "[base]") {
  std::vector<char> buf;
  add(buf, RTM_NEWADDR, NLM_F_MULTI, 8);
  add(buf, RTM_NEWADDR, NLM_F_MULTI, 13);  // a length that needs padding
  Seen seen;
  auto more = parse_netlink_batch(buf, seen.handler());
  REQUIRE(more.ok());
  CHECK_FALSE(more->done);
  CHECK_FALSE(more->interrupted);
  CHECK(seen.types == std::vector<std::uint16_t>{RTM_NEWADDR, RTM_NEWADDR});
  CHECK(seen.sizes == std::vector<std::size_t>{NLMSG_LENGTH(8), NLMSG_LENGTH(13)});

  add(buf, NLMSG_DONE, NLM_F_MULTI, 4);
  add(buf, RTM_NEWADDR);  // after the end: never looked at
  Seen all;
  auto done = parse_netlink_batch(buf, all.handler());
  REQUIRE(done.ok());
  CHECK(done->done);
  CHECK(all.types.size() == 2);
}

TEST_CASE("netlink batch: NLM_F_DUMP_INTR on any reply marks the dump interrupted", "[base]") {
  std::vector<char> buf;
  add(buf, RTM_NEWQDISC, NLM_F_MULTI | NLM_F_DUMP_INTR);
  add(buf, RTM_NEWQDISC);
  Seen seen;
  auto r = parse_netlink_batch(buf, seen.handler());
  REQUIRE(r.ok());
  CHECK(r->interrupted);
  CHECK_FALSE(r->done);

  std::vector<char> done;
  add(done, NLMSG_DONE, NLM_F_MULTI | NLM_F_DUMP_INTR, 4);
  auto end = parse_netlink_batch(done, seen.handler());
  REQUIRE(end.ok());
  CHECK(end->done);
  CHECK(end->interrupted);
}

TEST_CASE("netlink batch: NLMSG_ERROR is the kernel's errno, and 0 an acknowledgement", "[base]") {
  Seen seen;
  std::vector<char> refused;
  add_error(refused, -EPERM);
  auto r = parse_netlink_batch(refused, seen.handler());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == std::strerror(EPERM));

  std::vector<char> ack;
  add_error(ack, 0);
  add(ack, RTM_NEWADDR);
  auto a = parse_netlink_batch(ack, seen.handler());
  REQUIRE(a.ok());
  CHECK(seen.types == std::vector<std::uint16_t>{RTM_NEWADDR});

  std::vector<char> short_error;
  add(short_error, NLMSG_ERROR, 0, 2);
  auto s = parse_netlink_batch(short_error, seen.handler());
  REQUIRE_FALSE(s.ok());
  CHECK_THAT(s.error().message, Contains("truncated NLMSG_ERROR"));
}

TEST_CASE("netlink batch: a cut or impossible length is an error, not a read past the end",
          "[base]") {
  std::vector<char> buf;
  add(buf, RTM_NEWADDR, NLM_F_MULTI, 32);
  Seen seen;
  auto cut = parse_netlink_batch(std::span<const char>(buf).first(buf.size() - 4), seen.handler());
  REQUIRE_FALSE(cut.ok());
  CHECK(cut.error().message == "truncated message");
  CHECK(seen.types.empty());

  nlmsghdr tiny{};
  tiny.nlmsg_len = 4;  // shorter than its own header
  std::vector<char> bad(sizeof tiny);
  std::memcpy(bad.data(), &tiny, sizeof tiny);
  CHECK_FALSE(parse_netlink_batch(bad, seen.handler()).ok());

  // Fewer bytes than a header: nothing to read, not an error.
  auto crumbs = parse_netlink_batch(std::span<const char>(buf).first(4), seen.handler());
  REQUIRE(crumbs.ok());
  CHECK_FALSE(crumbs->done);
}

TEST_CASE("netlink batch: the handler's error ends the walk", "[base]") {
  std::vector<char> buf;
  add(buf, RTM_NEWADDR);
  add(buf, RTM_NEWADDR);
  int calls = 0;
  auto r = parse_netlink_batch(buf, [&](const NetlinkMessage&) -> Expected<void> {
    ++calls;
    return Error{"malformed RTM_NEWADDR"};
  });
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "malformed RTM_NEWADDR");
  CHECK(calls == 1);
}

TEST_CASE("netlink_dump lists this namespace's links (no privileges needed)", "[base]") {
  const int sock = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  REQUIRE(sock >= 0);
  ifinfomsg request{};
  request.ifi_family = AF_UNSPEC;
  int links = 0;
  int restarts = 0;
  auto r = netlink_dump(
      sock,
      NetlinkDumpRequest{"RTM_GETLINK dump", RTM_GETLINK,
                         std::span(reinterpret_cast<const char*>(&request), sizeof request)},
      [&] {
        ++restarts;
        links = 0;
      },
      [&](const NetlinkMessage& m) -> Expected<void> {
        if (m.header.nlmsg_type == RTM_NEWLINK) ++links;
        return {};
      });
  ::close(sock);
  REQUIRE(r.ok());
  CHECK(links >= 1);  // lo, at least
  CHECK(restarts <= NetlinkDumpRequest::kDefaultAttempts - 1);
}
