#include "base/netlink.hpp"

#include <fmt/format.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "base/text.hpp"

namespace enforcer {

Expected<NetlinkBatch> parse_netlink_batch(std::span<const char> batch,
                                           const NetlinkHandler& on_message) {
  NetlinkBatch out;
  while (batch.size() >= sizeof(nlmsghdr)) {
    nlmsghdr nh;
    std::memcpy(&nh, batch.data(), sizeof nh);
    if (nh.nlmsg_len < sizeof(nlmsghdr) || nh.nlmsg_len > batch.size()) {
      return Error{"truncated message"};
    }
    if (nh.nlmsg_flags & NLM_F_DUMP_INTR) out.interrupted = true;
    if (nh.nlmsg_type == NLMSG_DONE) {
      out.done = true;
      return out;
    }
    if (nh.nlmsg_type == NLMSG_ERROR) {
      nlmsgerr e{};
      if (nh.nlmsg_len < NLMSG_LENGTH(sizeof e)) return Error{"truncated NLMSG_ERROR"};
      std::memcpy(&e, batch.data() + NLMSG_HDRLEN, sizeof e);
      if (e.error != 0) return Error{errno_text(e.error), -e.error};
    } else if (auto r = on_message(NetlinkMessage{nh, batch.first(nh.nlmsg_len)}); !r) {
      return r.error();
    }
    const std::size_t step = NLMSG_ALIGN(nh.nlmsg_len);
    if (step >= batch.size()) break;
    batch = batch.subspan(step);
  }
  return out;
}

namespace {

// Larger than any single reply the kernel builds for a dump (at most 32 KiB per skb).
constexpr std::size_t kReceiveBytes = 64 * 1024;

// Runs the dump once; `interrupted` tells whether it has to be run again.
Expected<void> dump_once(int sock, const NetlinkDumpRequest& request, std::uint32_t seq,
                         const NetlinkHandler& on_message, bool& interrupted) {
  std::vector<char> message(NLMSG_LENGTH(request.family.size()));
  nlmsghdr nh{};
  nh.nlmsg_len = static_cast<std::uint32_t>(message.size());
  nh.nlmsg_type = request.type;
  nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nh.nlmsg_seq = seq;
  std::memcpy(message.data(), &nh, sizeof nh);
  std::memcpy(message.data() + NLMSG_HDRLEN, request.family.data(), request.family.size());
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  while (::sendto(sock, message.data(), message.size(), 0,
                  reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel) < 0) {
    if (errno != EINTR) return errno_error(errno, "{}", request.what);
  }

  interrupted = false;
  std::vector<char> buf(kReceiveBytes);
  for (;;) {
    // MSG_TRUNC: the length of the reply even when it did not fit, so a cut reply is seen.
    const ssize_t n = ::recv(sock, buf.data(), buf.size(), MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, "{}", request.what);
    }
    if (static_cast<std::size_t>(n) > buf.size()) {
      return Error{fmt::format("{}: a reply of {} bytes, more than the {} expected", request.what,
                               n, buf.size())};
    }
    auto batch = parse_netlink_batch(std::span<const char>(buf.data(), static_cast<std::size_t>(n)),
                                     on_message);
    if (!batch) return Error{fmt::format("{}: {}", request.what, batch.error().message)};
    interrupted = interrupted || batch->interrupted;
    if (batch->done) return {};
  }
}

}  // namespace

Expected<void> netlink_dump(int sock, const NetlinkDumpRequest& request,
                            const std::function<void()>& restart,
                            const NetlinkHandler& on_message) {
  for (int attempt = 1;; ++attempt) {
    bool interrupted = false;
    auto r = dump_once(sock, request, static_cast<std::uint32_t>(attempt), on_message, interrupted);
    if (!r || !interrupted) return r;
    if (attempt >= request.attempts) {
      return Error{fmt::format("{}: interrupted by a change {} times in a row (NLM_F_DUMP_INTR)",
                               request.what, attempt)};
    }
    restart();
  }
}

}  // namespace enforcer
