// kernel tier: the accounting programs run by the kernel through BPF_PROG_TEST_RUN on
// hand-built frames: attribution, wire bytes, runts, removal, per-CPU sums. Needs root
// (CAP_BPF, CAP_NET_ADMIN).
#include <catch2/catch.hpp>

#include "bpf_test_frames.hpp"

using namespace enforcer;
using namespace enforcer::bpf_test;

TEST_CASE("accounting attributes each frame to the right experiment, direction and size",
          "[kernel][bpf]") {
  Fixture fx;
  const std::vector<Case> cases = {
      {ipv4("198.18.0.10", "198.18.0.1", 1000), true, 1},
      {ipv4("198.18.0.1", "198.18.0.10", 1400), false, 1},
      {ipv4("198.18.0.20", "198.18.0.1", 60), true, 2},
      {ipv4("198.18.0.1", "198.18.0.20", 1500), false, 2},
      {ipv4("198.18.1.77", "198.18.0.1", 300), true, 3},
      {ipv4("198.18.0.1", "198.18.1.200", 301), false, 3},
      {ipv6("2001:db8::10", "2001:db8::1", 1200), true, 1},
      {ipv6("2001:db8::1", "2001:db8::20", 800), false, 2},
      {ipv6("2001:db8:1:ff::5", "2001:db8::1", 100), true, 3},
      {ipv4("198.18.0.10", "198.18.0.1", 500, /*tags=*/1), true, 1},
      {ipv4("198.18.0.10", "198.18.0.1", 500, /*tags=*/2), true, 1},
      {ipv4("198.18.0.1", "198.18.0.20", 700, /*tags=*/2), false, 2},
      {ipv4("198.18.0.10", "198.18.0.1", 1480, 0, /*frag=*/true), true, 1},
      {ipv4("198.18.0.1", "198.18.0.20", 1480, 0, /*frag=*/true), false, 2},
      {ipv6("2001:db8::10", "2001:db8::1", 1232, /*frag=*/true), true, 1},
      // The wrong end of the packet never attributes: egress looks at the source only.
      {ipv4("198.18.0.1", "198.18.0.10", 700), true, 0},
      {ipv4("198.18.0.10", "198.18.0.1", 700), false, 0},
      {ipv4("198.18.2.1", "198.18.0.1", 100), true, 0},
      {ipv6("2001:db8::99", "2001:db8::1", 100), true, 0},
      {arp(), true, 0},
      {arp(), false, 0},
  };
  for (const Case& c : cases) {
    INFO(c.frame.what << (c.egress ? " on egress" : " on ingress") << ", expect id "
                      << c.expected_id);
    const auto before = fx.counters();
    const int verdict = fx.run(c.egress, c.frame);
    CHECK(verdict == TC_ACT_UNSPEC);  // accounting never drops nor short-cuts other filters
    const auto after = fx.counters();
    const int dir = c.egress ? kEgress : kIngress;
    const int other = c.egress ? kIngress : kEgress;
    for (std::uint32_t id = 0; id <= 3; ++id) {
      const std::uint64_t bytes = after[id].bytes[dir] - before[id].bytes[dir];
      const std::uint64_t packets = after[id].packets[dir] - before[id].packets[dir];
      if (id == c.expected_id) {
        CHECK(bytes == c.frame.bytes.size());  // not an aggregate: skb->len, the whole frame
        CHECK(packets == 1);
      } else {
        CHECK(bytes == 0);
        CHECK(packets == 0);
      }
      CHECK(after[id].bytes[other] == before[id].bytes[other]);
    }
  }
}

TEST_CASE("a GSO aggregate is charged its wire bytes: every segment with its own headers",
          "[kernel][bpf]") {
  // An aggregate of `segs` segments moves skb->len + (segs - 1) × hdr bytes on the wire, hdr being
  // the headers from the Ethernet header to the end of the L4 header (qdisc_pkt_len_init).
  // Egress reads the kernel's own sum (__sk_buff->wire_len, given here as the kernel would set
  // it); ingress computes it from the headers and gso_segs (or, when that is 0, from gso_size).
  Fixture fx;
  struct GsoCase {
    Frame frame;
    bool egress;
    std::uint32_t id;
    std::uint32_t gso_segs, gso_size;
    std::uint64_t hdr;  // 0: counted as skb->len
  };
  const std::vector<GsoCase> cases = {
      // TCP with timestamps (32-byte header): 14 + 20 + 32 = 66 bytes per segment.
      {tcp("198.18.0.10", "198.18.0.1", 32, 4 * 600), true, 1, 4, 600, 66},
      {tcp("198.18.0.1", "198.18.0.10", 32, 4 * 600), false, 1, 4, 600, 66},
      // IPv6, a plain 20-byte TCP header: 14 + 40 + 20 = 74.
      {tcp("2001:db8::20", "2001:db8::1", 20, 3 * 900), true, 2, 3, 900, 74},
      {tcp("2001:db8::1", "2001:db8::20", 20, 3 * 900), false, 2, 3, 900, 74},
      // IPv4 options count in every segment: 14 + 24 + 32 = 70.
      {tcp("198.18.0.1", "198.18.1.5", 32, 5 * 500, 4), false, 3, 5, 500, 70},
      // gso_segs 0 with a gso_size (an untrusted sender's aggregate): segments = ceil(payload /
      // gso_size) = ceil(2100 / 500) = 5, as the kernel derives them.
      {tcp("198.18.0.1", "198.18.0.20", 32, 2100), false, 2, 0, 500, 66},
      // UDP GSO: 14 + 20 + 8 = 42 (the UDP header belongs to the payload of ipv4()).
      {ipv4("198.18.0.1", "198.18.0.10", 8 + 4 * 700), false, 1, 4, 700, 42},
      // A single segment (TCP marks small sends gso_segs 1, no gso_size): skb->len.
      {tcp("198.18.0.1", "198.18.0.10", 32, 1448), false, 1, 1, 0, 0},
      // Not TCP or UDP behind IPv6 (an extension header): skb->len, even as an aggregate.
      {ipv6("2001:db8::1", "2001:db8::10", 1232, /*frag=*/true), false, 1, 2, 600, 0},
  };
  for (const GsoCase& c : cases) {
    const std::uint64_t len = c.frame.bytes.size();
    std::uint64_t segs = c.gso_segs;
    if (segs == 0 && c.hdr) segs = (len - c.hdr + c.gso_size - 1) / c.gso_size;
    const std::uint64_t wire = c.hdr ? len + (segs - 1) * c.hdr : len;
    INFO(c.frame.what << (c.egress ? " on egress" : " on ingress") << ": " << len << " B, gso_segs "
                      << c.gso_segs << ", gso_size " << c.gso_size << ", expect " << wire
                      << " B on the wire");
    __sk_buff ctx{};
    ctx.gso_segs = c.gso_segs;
    ctx.gso_size = c.gso_size;
    if (c.egress) ctx.wire_len = static_cast<std::uint32_t>(wire);
    const auto before = fx.counters();
    CHECK(fx.run_ctx(c.egress ? Program::kEgressPolice : Program::kIngress, c.frame, ctx) ==
          TC_ACT_UNSPEC);
    const auto after = fx.counters();
    const int dir = c.egress ? kEgress : kIngress;
    CHECK(after[c.id].bytes[dir] - before[c.id].bytes[dir] == wire);
    CHECK(after[c.id].packets[dir] - before[c.id].packets[dir] == 1);
  }
  // The same aggregate on ingress (computed) and egress (the kernel's wire_len, which the test
  // runner sets to skb->len when not given): without wire_len, egress counts skb->len.
  const Frame f = tcp("198.18.0.10", "198.18.0.1", 32, 4 * 600);
  __sk_buff ctx{};
  ctx.gso_segs = 4;
  ctx.gso_size = 600;
  const auto before = fx.counters();
  fx.run_ctx(Program::kEgressPolice, f, ctx);
  CHECK(fx.counters()[1].bytes[kEgress] - before[1].bytes[kEgress] == f.bytes.size());
}

TEST_CASE("the rate limit charges a GSO aggregate its wire bytes", "[kernel][bpf][rate]") {
  // Paced at 1 MB/s (1 µs per byte), consecutive aggregates of 4 × 600 B of TCP payload depart
  // their wire length apart: 2,466 + 3 × 66 = 2,664 µs, not skb->len's 2,466.
  Fixture fx;
  const Frame f = tcp("198.18.0.10", "198.18.0.1", 32, 4 * 600);
  const std::uint64_t wire = f.bytes.size() + 3 * 66;
  fx.pace_edt();  // 1 ms per 1,000-byte frame, 2 s horizon
  std::vector<std::uint64_t> stamps;
  for (int i = 0; i < 40; ++i) {
    __sk_buff ctx{};
    ctx.gso_segs = 4;
    ctx.gso_size = 600;
    ctx.wire_len = static_cast<std::uint32_t>(wire);
    CHECK(fx.run_ctx(Program::kEgressEdt, f, ctx) == TC_ACT_UNSPEC);
    stamps.push_back(ctx.tstamp);
  }
  // The first leave at once (the idle schedule's credit: 2 ms + 64 KiB, 26 of these at
  // 1 MB/s); the rest are stamped.
  std::size_t first = 0;
  while (first < stamps.size() && stamps[first] == 0) ++first;
  REQUIRE(first + 2 < stamps.size());
  for (std::size_t i = first + 1; i < stamps.size(); ++i) {
    INFO("aggregate " << i);
    CHECK(stamps[i] - stamps[i - 1] == wire * 1000);
  }
  CHECK(fx.counters()[1].bytes[kEgress] == 40 * wire);
}

TEST_CASE("truncated and runt frames are unattributed, never dropped", "[kernel][bpf]") {
  Fixture fx;
  Frame short_vlan = ipv4("198.18.0.10", "198.18.0.1", 0, /*tags=*/1);
  short_vlan.bytes.resize(16);  // half a VLAN tag
  Frame bare_eth = ipv4("198.18.0.10", "198.18.0.1", 0);
  bare_eth.bytes.resize(14);          // an Ethernet header and nothing else
  put16(bare_eth.bytes, 12, 0x88b5);  // (an ethertype for local experiments)
  // (The kernel's test runner refuses an IPv4 or IPv6 ethertype with less than that header, so
  // those runts cannot be run here; the verifier forces every header read to be bounds-checked.)
  for (const Frame& f : {short_vlan, bare_eth}) {
    INFO(f.what << " cut to " << f.bytes.size() << " bytes");
    const auto before = fx.counters();
    CHECK(fx.run(true, f) == TC_ACT_UNSPEC);
    const auto after = fx.counters();
    CHECK(after[0].bytes[kEgress] - before[0].bytes[kEgress] == f.bytes.size());
    CHECK(after[1].bytes[kEgress] == before[1].bytes[kEgress]);
  }
}

TEST_CASE("removing an experiment stops attribution and re-adding starts from zero",
          "[kernel][bpf]") {
  Fixture fx;
  const Frame f = ipv4("198.18.0.10", "198.18.0.1", 1000);
  fx.run(true, f);
  REQUIRE(fx.counters()[1].bytes[kEgress] == f.bytes.size());
  const std::vector<Prefix> addrs = {*parse_prefix("198.18.0.10"), *parse_prefix("2001:db8::10")};
  REQUIRE(fx.dp().remove_experiment(1, addrs).ok());
  const auto unattributed_before = fx.counters()[0].bytes[kEgress];
  fx.run(true, f);
  CHECK(fx.counters()[1].bytes[kEgress] == 0);
  CHECK(fx.counters()[0].bytes[kEgress] - unattributed_before == f.bytes.size());
  REQUIRE(fx.dp().add_experiment(1, addrs).ok());
  fx.run(true, f);
  CHECK(fx.counters()[1].bytes[kEgress] == f.bytes.size());
}

TEST_CASE("many repeats on both CPUs sum exactly in the per-CPU counters", "[kernel][bpf]") {
  Fixture fx;
  const Frame f = ipv6("2001:db8::1", "2001:db8::20", 1000);
  const auto before = fx.counters();
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.bytes.data(),
              .data_size_in = static_cast<std::uint32_t>(f.bytes.size()), .repeat = 100000);
  REQUIRE(bpf_prog_test_run_opts(fx.dp().program_fd(Program::kIngress), &opts) == 0);
  const auto after = fx.counters();
  CHECK(after[2].packets[kIngress] - before[2].packets[kIngress] == 100000);
  CHECK(after[2].bytes[kIngress] - before[2].bytes[kIngress] == 100000 * f.bytes.size());
}
