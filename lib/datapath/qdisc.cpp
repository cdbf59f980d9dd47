#include "datapath/qdisc.hpp"

#include <fmt/format.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace enforcer {

namespace {

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

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
  Fd sock{socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)};
  if (sock.fd < 0) return Error{fmt::format("rtnetlink socket: {}", std::strerror(errno))};

  struct {
    nlmsghdr nh;
    tcmsg tc;
  } req{};
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(tcmsg));
  req.nh.nlmsg_type = RTM_GETQDISC;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = 1;
  req.tc.tcm_family = AF_UNSPEC;
  req.tc.tcm_ifindex = ifindex;
  if (send(sock.fd, &req, req.nh.nlmsg_len, 0) < 0) {
    return Error{fmt::format("rtnetlink qdisc dump: {}", std::strerror(errno))};
  }

  // The dump lists every qdisc of the namespace; keep those of `ifindex`.
  std::vector<QdiscEntry> qdiscs;
  std::vector<char> buf(32768);
  for (;;) {
    const ssize_t n = recv(sock.fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error{fmt::format("rtnetlink qdisc dump: {}", std::strerror(errno))};
    }
    auto len = static_cast<unsigned>(n);
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(nh, len);
         nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_type == NLMSG_DONE) return classify_egress_qdisc(qdiscs);
      if (nh->nlmsg_type == NLMSG_ERROR) {
        const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(nh));
        return Error{fmt::format("rtnetlink qdisc dump: {}", std::strerror(-err->error))};
      }
      if (nh->nlmsg_type != RTM_NEWQDISC) continue;
      const auto* tc = static_cast<const tcmsg*>(NLMSG_DATA(nh));
      if (tc->tcm_ifindex != ifindex) continue;
      QdiscEntry& q = qdiscs.emplace_back();
      q.handle = tc->tcm_handle;
      q.parent = tc->tcm_parent;
      int attr_len = static_cast<int>(nh->nlmsg_len - NLMSG_LENGTH(sizeof(tcmsg)));
      for (auto* rta = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(const_cast<tcmsg*>(tc)) +
                                                 NLMSG_ALIGN(sizeof(tcmsg)));
           RTA_OK(rta, attr_len); rta = RTA_NEXT(rta, attr_len)) {
        if (rta->rta_type == TCA_KIND) {
          q.kind.assign(static_cast<const char*>(RTA_DATA(rta)),
                        strnlen(static_cast<const char*>(RTA_DATA(rta)), RTA_PAYLOAD(rta)));
        }
      }
    }
  }
}

}  // namespace enforcer
