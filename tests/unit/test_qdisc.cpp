// Which egress qdiscs pace (lib/datapath/qdisc.hpp): fq at the root, or fq on every queue under an
// mq root; anything else is policed. The entries are what `tc qdisc show` lists, with the kernel's
// handles and parents.
#include <linux/pkt_sched.h>

#include <catch2/catch.hpp>
#include <vector>

#include "datapath/qdisc.hpp"

using namespace enforcer;

namespace {

constexpr std::uint32_t kClsact = 0xffff0000;

// An mq root with handle `major`:0 and one child of `kind` per queue (parent major:queue).
std::vector<QdiscEntry> mq(std::uint32_t major, const std::vector<const char*>& kinds) {
  std::vector<QdiscEntry> out{{major << 16, TC_H_ROOT, "mq"}, {kClsact, TC_H_CLSACT, "clsact"}};
  std::uint32_t queue = 1;
  for (const char* kind : kinds) out.push_back({0, (major << 16) | queue++, kind});
  return out;
}

}  // namespace

TEST_CASE("fq at the root paces, other roots are policed", "[qdisc]") {
  const EgressQdisc fq = classify_egress_qdisc({{0x80010000, TC_H_ROOT, "fq"}});
  CHECK(fq.paces());
  CHECK(fq.describe() == "fq");
  for (const char* kind : {"pfifo", "fq_codel", "noqueue", "htb", "tbf"}) {
    const EgressQdisc q =
        classify_egress_qdisc({{0x80010000, TC_H_ROOT, kind}, {kClsact, TC_H_CLSACT, "clsact"}});
    INFO(kind);
    CHECK_FALSE(q.paces());
    CHECK(q.describe() == kind);
  }
  const EgressQdisc none = classify_egress_qdisc({});
  CHECK_FALSE(none.paces());
  CHECK(none.describe() == "none");
}

TEST_CASE("mq paces only when fq holds every queue", "[qdisc]") {
  SECTION("the default handle 0: and an explicit one") {
    for (std::uint32_t major : {0u, 0x8001u}) {
      const EgressQdisc q = classify_egress_qdisc(mq(major, {"fq", "fq", "fq", "fq"}));
      CHECK(q.paces());
      CHECK(q.queues == 4);
      CHECK(q.describe() == "mq with fq on all 4 queues");
    }
  }
  SECTION("one queue left to pfifo_fast: its packets would ignore the timestamps") {
    const EgressQdisc q = classify_egress_qdisc(mq(0, {"fq", "pfifo_fast", "fq", "fq"}));
    CHECK_FALSE(q.paces());
    CHECK(q.describe() == "mq with fq on 3 of 4 queues");
  }
  SECTION("mq as the kernel makes it: a default qdisc on each queue") {
    CHECK_FALSE(classify_egress_qdisc(mq(0, {"fq_codel", "fq_codel"})).paces());
  }
  SECTION("an mq whose children are not listed is not trusted") {
    const EgressQdisc q = classify_egress_qdisc({{0, TC_H_ROOT, "mq"}});
    CHECK_FALSE(q.paces());
    CHECK(q.describe() == "mq with fq on 0 of 0 queues");
  }
  SECTION("qdiscs below the children (a grandchild) do not count as queues") {
    auto qdiscs = mq(0x8001, {"fq", "fq"});
    qdiscs.push_back({0x90000000, 0x80020001, "pfifo"});  // below some other qdisc 8002:
    const EgressQdisc q = classify_egress_qdisc(qdiscs);
    CHECK(q.queues == 2);
    CHECK(q.paces());
  }
}
