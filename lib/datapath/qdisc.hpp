// The qdiscs that hold an interface's egress packets, read over rtnetlink, and whether they pace:
// EDT timestamps are only honoured by fq, either as the root qdisc or as the child of every
// transmit queue under a multi-queue root (mq with one fq per queue, the usual 10G setup).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/expected.hpp"

namespace enforcer {

// One qdisc of an interface as the kernel lists it (tcmsg handle and parent, TCA_KIND).
struct QdiscEntry {
  std::uint32_t handle = 0;
  std::uint32_t parent = 0;
  std::string kind;
};

struct EgressQdisc {
  std::string root = "none";  // the root qdisc's kind
  std::size_t queues = 0;     // children of an mq root (one per transmit queue)
  std::size_t fq_queues = 0;  // ... of which fq
  // fq at the root, or mq whose every child is fq.
  bool paces() const;
  // "fq", "pfifo", "mq with fq on all 4 queues", "mq with fq on 1 of 4 queues".
  std::string describe() const;
};

// From the qdiscs of one interface (any order; clsact and ingress are ignored).
EgressQdisc classify_egress_qdisc(const std::vector<QdiscEntry>& qdiscs);
Expected<EgressQdisc> egress_qdisc(int ifindex);

}  // namespace enforcer
