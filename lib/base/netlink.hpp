// rtnetlink dumps (RTM_GETADDR, RTM_GETQDISC, ...): the request, the replies spread over many
// recv() calls, and the ways a dump ends. Walking the replies of one recv() is a pure function so
// that the unit tier can feed it crafted buffers; netlink_dump() adds the socket I/O.
#pragma once

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "base/expected.hpp"

namespace enforcer {

// One reply: its header, and its bytes (header included, nlmsg_len of them).
struct NetlinkMessage {
  nlmsghdr header;
  std::span<const char> bytes;
};

// Called for each reply that is neither NLMSG_DONE nor NLMSG_ERROR; an Error (e.g. "malformed
// RTM_NEWADDR") ends the dump with that message.
using NetlinkHandler = std::function<Expected<void>(const NetlinkMessage&)>;

struct NetlinkBatch {
  bool done = false;         // NLMSG_DONE was seen: the dump is over
  bool interrupted = false;  // a reply carried NLM_F_DUMP_INTR: the dump raced a change
};

// Walks the replies of one recv(). Errors: a truncated message, an NLMSG_ERROR (its errno's
// text), or the handler's. An NLMSG_ERROR of 0 is an acknowledgement and is skipped.
Expected<NetlinkBatch> parse_netlink_batch(std::span<const char> batch,
                                           const NetlinkHandler& on_message);

struct NetlinkDumpRequest {
  static constexpr int kDefaultAttempts = 3;
  std::string_view what;            // names the dump in errors: "RTM_GETADDR dump"
  std::uint16_t type = 0;           // RTM_GETADDR, RTM_GETQDISC, ...
  std::span<const char> family;     // the request's body: an ifaddrmsg, a tcmsg, ...
  int attempts = kDefaultAttempts;  // runs of a dump that keeps racing changes, at most
};

// Sends the dump request on `sock` (a NETLINK_ROUTE socket) and hands every reply to on_message
// until NLMSG_DONE. A dump that raced a change (NLM_F_DUMP_INTR) may have skipped or repeated
// entries, so it is run again, after restart() (the caller drops what it collected), up to
// request.attempts times in all; then it is an error that says so. recv() interrupted by a
// signal (EINTR) is retried; a socket timeout (SO_RCVTIMEO) is an error.
Expected<void> netlink_dump(int sock, const NetlinkDumpRequest& request,
                            const std::function<void()>& restart, const NetlinkHandler& on_message);

}  // namespace enforcer
