#include "datapath/qdisc.hpp"

#include <fmt/format.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <span>
#include <vector>

#include "base/fd.hpp"
#include "base/netlink.hpp"

namespace enforcer {

bool EgressQdisc::paces() const {
  if (root == "fq") return true;
  return root == "mq" && queues > 0 && fq_queues == queues;
}

std::string EgressQdisc::describe() const {
  if (root != "mq") return root;
  if (queues > 0 && fq_queues == queues) return fmt::format("mq with fq on all {} queues", queues);
  return fmt::format("mq with fq on {} of {} queues", fq_queues, queues);
}

EgressQdisc classify_egress_qdisc(const std::vector<QdiscEntry>& qdiscs) {
  EgressQdisc out;
  std::uint32_t root_major = 0;
  for (const auto& q : qdiscs) {
    if (q.parent == TC_H_ROOT) {
      out.root = q.kind;
      root_major = TC_H_MAJ(q.handle);
    }
  }
  if (out.root != "mq") return out;
  for (const auto& q : qdiscs) {
    // clsact and ingress hang below TC_H_CLSACT (== TC_H_INGRESS), never below the root.
    if (q.parent == TC_H_ROOT || q.parent == TC_H_CLSACT) continue;
    if (TC_H_MAJ(q.parent) != root_major) continue;
    ++out.queues;
    if (q.kind == "fq") ++out.fq_queues;
  }
  return out;
}

Expected<EgressQdisc> egress_qdisc(int ifindex) {
  const Fd sock(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!sock) return Error{fmt::format("rtnetlink socket: {}", std::strerror(errno))};

  tcmsg request{};
  request.tcm_family = AF_UNSPEC;
  request.tcm_ifindex = ifindex;
  // The dump lists every qdisc of the namespace; keep those of `ifindex`.
  std::vector<QdiscEntry> qdiscs;
  const auto dumped = netlink_dump(
      sock.get(),
      NetlinkDumpRequest{"rtnetlink qdisc dump", RTM_GETQDISC,
                         std::span(reinterpret_cast<const char*>(&request), sizeof request)},
      [&] { qdiscs.clear(); },
      [&](const NetlinkMessage& m) -> Expected<void> {
        if (m.header.nlmsg_type != RTM_NEWQDISC) return {};
        if (m.bytes.size() < NLMSG_LENGTH(sizeof(tcmsg))) return Error{"short RTM_NEWQDISC"};
        tcmsg tc;
        std::memcpy(&tc, m.bytes.data() + NLMSG_HDRLEN, sizeof tc);
        if (tc.tcm_ifindex != ifindex) return {};
        QdiscEntry& q = qdiscs.emplace_back();
        q.handle = tc.tcm_handle;
        q.parent = tc.tcm_parent;
        std::size_t off = NLMSG_ALIGN(NLMSG_LENGTH(sizeof(tcmsg)));
        while (off + sizeof(rtattr) <= m.bytes.size()) {
          rtattr rta;
          std::memcpy(&rta, m.bytes.data() + off, sizeof rta);
          if (rta.rta_len < sizeof(rtattr) || off + rta.rta_len > m.bytes.size()) break;
          if (rta.rta_type == TCA_KIND) {
            const char* kind = m.bytes.data() + off + RTA_LENGTH(0);
            q.kind.assign(kind, strnlen(kind, rta.rta_len - RTA_LENGTH(0)));
          }
          off += RTA_ALIGN(rta.rta_len);
        }
        return {};
      });
  if (!dumped) return dumped.error();
  return classify_egress_qdisc(qdiscs);
}

}  // namespace enforcer
