// kernel tier: the accounting programs run by the kernel through BPF_PROG_TEST_RUN on
// hand-built frames. Needs root (CAP_BPF, CAP_NET_ADMIN).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bandwidth/limiter.hpp"
#include "datapath/bpf_datapath.hpp"

using namespace enforcer;

namespace {

struct Frame {
  std::string what;
  std::vector<std::uint8_t> bytes;
};

void put16(std::vector<std::uint8_t>& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}

std::vector<std::uint8_t> addr_bytes(const char* text) {
  auto p = parse_prefix(text);
  REQUIRE(p.ok());
  return std::vector<std::uint8_t>(p->bytes.begin(), p->bytes.begin() + (p->v6 ? 16 : 4));
}

// Ethernet (+ `tags` VLAN tags: one 802.1Q, or an 802.1ad outer and an 802.1Q inner one, QinQ)
// + IPv4 header + payload. `frag` sets MF and an offset.
Frame ipv4(const char* src, const char* dst, std::size_t payload, int tags = 0, bool frag = false) {
  const std::size_t l2 = 14 + 4 * static_cast<std::size_t>(tags);
  std::vector<std::uint8_t> b(l2 + 20 + payload, 0);
  std::memset(b.data(), 0x02, 12);  // locally administered MACs
  for (int i = 0; i < tags; ++i) {
    const std::size_t at = 12 + 4 * static_cast<std::size_t>(i);
    put16(b, at, tags == 2 && i == 0 ? 0x88a8 : 0x8100);
    put16(b, at + 2, static_cast<std::uint16_t>(42 + i));  // VLAN id
  }
  put16(b, l2 - 2, ETH_P_IP);
  std::uint8_t* ip = b.data() + l2;
  ip[0] = 0x45;
  put16(b, l2 + 2, static_cast<std::uint16_t>(20 + payload));
  if (frag) put16(b, l2 + 6, 0x2000 | 185);  // MF, offset 1480 bytes
  ip[8] = 64;
  ip[9] = IPPROTO_UDP;
  auto s = addr_bytes(src), d = addr_bytes(dst);
  std::memcpy(ip + 12, s.data(), 4);
  std::memcpy(ip + 16, d.data(), 4);
  return {std::string("IPv4 ") + src + " > " + dst +
              (tags == 1   ? " (802.1Q)"
               : tags == 2 ? " (802.1ad + 802.1Q)"
                           : "") +
              (frag ? " (fragment)" : ""),
          b};
}

// Ethernet + IPv6 header (+ a fragment extension header when `frag`) + payload.
Frame ipv6(const char* src, const char* dst, std::size_t payload, bool frag = false) {
  const std::size_t ext = frag ? 8 : 0;
  std::vector<std::uint8_t> b(14 + 40 + ext + payload, 0);
  std::memset(b.data(), 0x02, 12);
  put16(b, 12, ETH_P_IPV6);
  std::uint8_t* ip = b.data() + 14;
  ip[0] = 0x60;
  put16(b, 14 + 4, static_cast<std::uint16_t>(ext + payload));
  ip[6] = frag ? 44 : IPPROTO_UDP;  // next header: fragment or UDP
  ip[7] = 64;
  auto s = addr_bytes(src), d = addr_bytes(dst);
  std::memcpy(ip + 8, s.data(), 16);
  std::memcpy(ip + 24, d.data(), 16);
  if (frag) {
    ip[40] = IPPROTO_UDP;
    put16(b, 14 + 40 + 2, (1232 << 3) | 1);  // offset, M flag
  }
  return {std::string("IPv6 ") + src + " > " + dst + (frag ? " (fragment)" : ""), b};
}

// A TCP segment (or a GSO aggregate of them): Ethernet + IPv4 (with `ip_options` bytes of
// options) or IPv6 + a TCP header of `tcp_header` bytes + payload.
Frame tcp(const char* src, const char* dst, std::size_t tcp_header, std::size_t payload,
          std::size_t ip_options = 0) {
  const bool v6 = std::strchr(src, ':') != nullptr;
  Frame f =
      v6 ? ipv6(src, dst, tcp_header + payload) : ipv4(src, dst, ip_options + tcp_header + payload);
  const std::size_t l3 = 14, l4 = l3 + (v6 ? 40 : 20 + ip_options);
  if (v6) {
    f.bytes[l3 + 6] = IPPROTO_TCP;
  } else {
    f.bytes[l3] = static_cast<std::uint8_t>(0x40 | (20 + ip_options) / 4);
    f.bytes[l3 + 9] = IPPROTO_TCP;
  }
  f.bytes[l4 + 12] = static_cast<std::uint8_t>(tcp_header / 4 << 4);  // data offset
  f.what = std::string(v6 ? "IPv6" : "IPv4") + " TCP " + src + " > " + dst;
  return f;
}

Frame arp() {
  std::vector<std::uint8_t> b(14 + 28, 0);
  std::memset(b.data(), 0xff, 6);
  put16(b, 12, ETH_P_ARP);
  return {"ARP", b};
}

// A 1,000-byte IPv4 TCP frame from `src` (the payload is not a real TCP header: only the
// protocol number matters to the programs).
Frame tcp_frame(const char* src) {
  Frame f = ipv4(src, "198.18.0.1", 1000 - 34);
  f.bytes[14 + 9] = IPPROTO_TCP;
  return f;
}

class Fixture {
 public:
  Fixture() {
    REQUIRE(geteuid() == 0);  // the kernel tier runs as root; scripts/test refuses otherwise
    auto dp = BpfDatapath::create(
        BpfDatapathOptions{"/sys/fs/bpf/enforcer-unit-" + std::to_string(getpid()), {}, 16});
    if (!dp) FAIL("cannot load the datapath: " << dp.error().message);
    dp_ = std::move(*dp);
    add(1, {"198.18.0.10", "2001:db8::10"});
    add(2, {"198.18.0.20", "2001:db8::20"});
    add(3, {"198.18.1.0/24", "2001:db8:1::/48"});  // prefixes work like addresses
  }

  void add(std::uint32_t id, std::vector<const char*> addrs) {
    std::vector<Prefix> prefixes;
    for (auto a : addrs) prefixes.push_back(*parse_prefix(a));
    auto r = dp_->add_experiment(id, prefixes);
    REQUIRE(r.ok());
  }

  // Runs the egress or ingress program once on `frame`; returns the verdict.
  int run(bool egress, const Frame& f) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.bytes.data(),
                .data_size_in = static_cast<std::uint32_t>(f.bytes.size()), .repeat = 1);
    const int err = bpf_prog_test_run_opts(
        dp_->program_fd(egress ? Program::kEgressPolice : Program::kIngress), &opts);
    INFO("bpf_prog_test_run_opts: " << std::strerror(-err));
    REQUIRE(err == 0);
    return static_cast<int>(opts.retval);
  }

  // Runs `program` once on `frame` with a context: the GSO fields (and wire_len, which the kernel
  // sets on egress before the tc hook) as the kernel would have them. Returns the verdict.
  int run_ctx(Program program, const Frame& f, __sk_buff& ctx) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.bytes.data(),
                .data_size_in = static_cast<std::uint32_t>(f.bytes.size()), .ctx_in = &ctx,
                .ctx_out = &ctx, .ctx_size_in = sizeof ctx, .ctx_size_out = sizeof ctx,
                .repeat = 1);
    const int err = bpf_prog_test_run_opts(dp_->program_fd(program), &opts);
    INFO("bpf_prog_test_run_opts: " << std::strerror(-err));
    REQUIRE(err == 0);
    return static_cast<int>(opts.retval);
  }

  std::vector<CounterSample> counters() {
    std::vector<CounterSample> out;
    REQUIRE(dp_->read_counters(3, out).ok());
    return out;
  }

  BpfDatapath& dp() { return *dp_; }

  // Experiment 1 paced (EDT) at 1,000,000 bytes/s (1 ms per 1,000-byte frame), 2 s horizon.
  void pace_edt() {
    RateLimit limit;
    limit.bytes_per_second = {1'000'000, 1'000'000};
    limit.edt_horizon_ns = 2'000'000'000;
    REQUIRE(dp_->set_limits({LimitUpdate{1, limit}}).ok());
  }

 private:
  std::unique_ptr<BpfDatapath> dp_;
};

struct Case {
  Frame frame;
  bool egress;
  std::uint32_t expected_id;  // 0 = unattributed
};

}  // namespace

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
  for (int i = 0; i < 6; ++i) {
    __sk_buff ctx{};
    ctx.gso_segs = 4;
    ctx.gso_size = 600;
    ctx.wire_len = static_cast<std::uint32_t>(wire);
    CHECK(fx.run_ctx(Program::kEgressEdt, f, ctx) == TC_ACT_UNSPEC);
    stamps.push_back(ctx.tstamp);
  }
  // The first leaves at once (the idle schedule's 2 ms credit); the rest are stamped.
  std::size_t first = 0;
  while (first < stamps.size() && stamps[first] == 0) ++first;
  REQUIRE(first + 2 < stamps.size());
  for (std::size_t i = first + 1; i < stamps.size(); ++i) {
    INFO("aggregate " << i);
    CHECK(stamps[i] - stamps[i - 1] == wire * 1000);
  }
  CHECK(fx.counters()[1].bytes[kEgress] == 6 * wire);
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

TEST_CASE("policing admits the tolerance's worth of a burst, then drops and counts",
          "[kernel][bpf][rate]") {
  Fixture fx;
  const Frame f = tcp_frame("198.18.0.10");  // 1,000-byte frames
  REQUIRE(f.bytes.size() == 1000);
  RateLimit limit;
  limit.bytes_per_second = {1'000'000, 1'000'000};       // 1 ms per frame
  limit.police_tolerance_ns = {10'000'000, 10'000'000};  // 10 ms: 10 frames ahead of now
  REQUIRE(fx.dp().set_limits({LimitUpdate{1, limit}}).ok());
  const auto before = fx.counters();
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.bytes.data(),
              .data_size_in = static_cast<std::uint32_t>(f.bytes.size()), .repeat = 1000);
  REQUIRE(bpf_prog_test_run_opts(fx.dp().program_fd(Program::kEgressPolice), &opts) == 0);
  const auto after = fx.counters();
  const std::uint64_t passed = after[1].packets[kEgress] - before[1].packets[kEgress];
  const std::uint64_t dropped =
      after[1].dropped_packets[kEgress] - before[1].dropped_packets[kEgress];
  INFO("passed " << passed << ", dropped " << dropped << ", run took " << opts.duration * 1000
                 << " ns");
  // 1 frame now + 10 within the tolerance; the run itself lasts well under 1 ms (1000 × ~100 ns),
  // which may admit one more.
  CHECK(passed >= 11);
  CHECK(passed <= 12);
  CHECK(passed + dropped == 1000);
  CHECK(after[1].dropped_bytes[kEgress] - before[1].dropped_bytes[kEgress] == dropped * 1000);
  CHECK(static_cast<int>(opts.retval) == TC_ACT_SHOT);  // the last frame of the burst was dropped
}

TEST_CASE("a budget total passes at once up to the total, charged, beyond it the rate holds",
          "[kernel][bpf][rate]") {
  Fixture fx;
  const Frame f = tcp_frame("198.18.0.10");  // 1,000-byte frames
  RateLimit limit;
  limit.bytes_per_second = {1'000'000, 1'000'000};       // 1 ms per frame
  limit.police_tolerance_ns = {10'000'000, 10'000'000};  // 10 frames ahead of now
  limit.edt_horizon_ns = 2'000'000'000;
  std::vector<CounterSample> read;
  REQUIRE(fx.dp().read_counters(1, read).ok());
  const std::uint64_t charged0 = read[1].charged[kEgress];
  // 300 frames of budget left, counted on from the charged bytes as read (the limiter's rule).
  limit.budget_bytes_total = budget_totals(read[1].charged, {300'000, 0});
  REQUIRE(fx.dp().set_limits({LimitUpdate{1, limit}}).ok());
  for (Program program : {Program::kEgressPolice, Program::kEgressEdt}) {
    INFO((program == Program::kEgressEdt ? "paced" : "policed"));
    const auto before = fx.counters();
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.bytes.data(),
                .data_size_in = static_cast<std::uint32_t>(f.bytes.size()), .repeat = 1000);
    REQUIRE(bpf_prog_test_run_opts(fx.dp().program_fd(program), &opts) == 0);
    const auto after = fx.counters();
    const std::uint64_t passed = after[1].packets[kEgress] - before[1].packets[kEgress];
    const std::uint64_t dropped =
        after[1].dropped_packets[kEgress] - before[1].dropped_packets[kEgress];
    INFO("passed " << passed << ", dropped " << dropped);
    CHECK(passed + dropped == 1000);
    if (program == Program::kEgressPolice) {
      // 300 at once, then the rate's 1 + 10 (+ 1 if the run outlasts 1 ms): without the budget
      // form the rate would have passed 11.
      CHECK(passed >= 311);
      CHECK(passed <= 312);
      REQUIRE(fx.dp().read_counters(1, read).ok());
      // Charged: the budget's 300 frames; a frame that finds it spent adds nothing.
      CHECK(read[1].charged[kEgress] - charged0 == 300'000);
      CHECK(read[1].charged[kIngress] == 0);  // ingress has no total: nothing charged
    } else {
      CHECK(dropped == 0);  // paced: TCP waits in fq instead (the rest of the total was spent)
    }
  }
  // The next tick's total counts on from what was charged: 50 frames more, no more. A rate of
  // 1 byte/s passes at most the one frame GCRA starts a schedule with.
  REQUIRE(fx.dp().read_counters(1, read).ok());
  const std::uint64_t charged1 = read[1].charged[kEgress];
  limit.budget_bytes_total = budget_totals(read[1].charged, {50'000, 0});
  limit.bytes_per_second = {1, 1};
  REQUIRE(fx.dp().set_limits({LimitUpdate{1, limit}}).ok());
  const auto before = fx.counters();
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.bytes.data(),
              .data_size_in = static_cast<std::uint32_t>(f.bytes.size()), .repeat = 200);
  REQUIRE(bpf_prog_test_run_opts(fx.dp().program_fd(Program::kEgressPolice), &opts) == 0);
  const auto after = fx.counters();
  CHECK(after[1].packets[kEgress] - before[1].packets[kEgress] >= 50);
  CHECK(after[1].packets[kEgress] - before[1].packets[kEgress] <= 51);
  REQUIRE(fx.dp().read_counters(1, read).ok());
  CHECK(read[1].charged[kEgress] - charged1 == 50'000);
}

TEST_CASE("a stop passes nothing, policed or paced, and counts it, no limit passes everything",
          "[kernel][bpf][rate]") {
  Fixture fx;
  const Frame tcp = tcp_frame("198.18.0.10");
  const Frame udp = ipv4("198.18.0.10", "198.18.0.1", 100);  // a small packet that may jump
  RateLimit stop;
  stop.bytes_per_second = {kRateStop, kRateStop};
  stop.edt_horizon_ns = 2'000'000'000;
  REQUIRE(fx.dp().set_limits({LimitUpdate{1, stop}}).ok());
  auto before = fx.counters();
  for (Program program : {Program::kEgressPolice, Program::kEgressEdt}) {
    for (const Frame* f : {&tcp, &udp}) {
      LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f->bytes.data(),
                  .data_size_in = static_cast<std::uint32_t>(f->bytes.size()), .repeat = 100);
      REQUIRE(bpf_prog_test_run_opts(fx.dp().program_fd(program), &opts) == 0);
      CHECK(static_cast<int>(opts.retval) == TC_ACT_SHOT);
    }
  }
  CHECK(fx.run(false, ipv4("198.18.0.1", "198.18.0.10", 1000)) == TC_ACT_SHOT);
  auto after = fx.counters();
  CHECK(after[1].packets[kEgress] == before[1].packets[kEgress]);
  CHECK(after[1].dropped_packets[kEgress] - before[1].dropped_packets[kEgress] == 400);
  CHECK(after[1].dropped_packets[kIngress] - before[1].dropped_packets[kIngress] == 1);
  // Another experiment is not touched.
  CHECK(fx.run(true, tcp_frame("198.18.0.20")) == TC_ACT_UNSPEC);

  RateLimit none;  // rate 0: what an entry nobody wrote holds
  REQUIRE(fx.dp().set_limits({LimitUpdate{1, none}}).ok());
  before = fx.counters();
  for (int i = 0; i < 100; ++i) REQUIRE(fx.run(true, tcp) == TC_ACT_UNSPEC);
  after = fx.counters();
  CHECK(after[1].packets[kEgress] - before[1].packets[kEgress] == 100);
  CHECK(after[1].dropped_packets[kEgress] == before[1].dropped_packets[kEgress]);
}

TEST_CASE("policing: the experiment's other traffic passes beside a TCP flow at the edge",
          "[kernel][bpf][rate]") {
  // A policed TCP flow keeps the schedule at the edge of the tolerance; a ping of the same
  // experiment may go one aggregate (64 KiB) further, so it is not dropped, and TCP still is.
  Fixture fx;
  const Frame tcp = tcp_frame("198.18.0.10");
  const Frame ping = ipv4("198.18.0.10", "198.18.0.1", 84 - 34);
  RateLimit limit;
  limit.bytes_per_second = {1'000'000, 1'000'000};         // 1 ms per 1,000-byte frame
  limit.police_tolerance_ns = {500'000'000, 500'000'000};  // 500 ms, as the daemon's floor
  REQUIRE(fx.dp().set_limits({LimitUpdate{1, limit}}).ok());
  auto run = [&](const Frame& f, int repeat) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.bytes.data(),
                .data_size_in = static_cast<std::uint32_t>(f.bytes.size()), .repeat = repeat);
    REQUIRE(bpf_prog_test_run_opts(fx.dp().program_fd(Program::kEgressPolice), &opts) == 0);
    return static_cast<int>(opts.retval);
  };
  CHECK(run(tcp, 1000) == TC_ACT_SHOT);  // 500 frames within the tolerance, then drops
  const auto filled = std::chrono::steady_clock::now();
  const auto before = fx.counters()[1];
  CHECK(run(ping, 10) == TC_ACT_UNSPEC);
  CHECK(run(tcp, 1) == TC_ACT_SHOT);
  const auto after = fx.counters()[1];
  CHECK(after.packets[kEgress] - before.packets[kEgress] == 10);
  CHECK(after.dropped_packets[kEgress] - before.dropped_packets[kEgress] == 1);
  // The headroom is one aggregate, not more: a flood of other traffic stops 64 KiB further (plus
  // what the schedule drained meanwhile, 1 byte per µs, and one TCP frame beyond the edge).
  run(ping, 2000);
  const auto drained_us = std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::steady_clock::now() - filled)
                              .count();
  const auto flood = fx.counters()[1];
  const auto passed = flood.packets[kEgress] - before.packets[kEgress];
  INFO("pings passed beyond the edge: " << passed << ", " << drained_us << " µs after it");
  CHECK(passed * 84 <= 65536 + 1000 + static_cast<std::uint64_t>(drained_us));
  CHECK(passed * 84 >= 65536 - 1000);
  if (drained_us < 100'000) CHECK(flood.dropped_packets[kEgress] > after.dropped_packets[kEgress]);
}

TEST_CASE("a higher rate takes effect at once after a lower one ran its schedule far ahead",
          "[kernel][bpf][rate]") {
  Fixture fx;
  const Frame f = ipv4("198.18.0.10", "198.18.0.1", 1000 - 34);
  auto run = [&](int repeat) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.bytes.data(),
                .data_size_in = static_cast<std::uint32_t>(f.bytes.size()), .repeat = repeat);
    REQUIRE(bpf_prog_test_run_opts(fx.dp().program_fd(Program::kEgressPolice), &opts) == 0);
  };
  // 25 KB/s with a 20 s tolerance (a min_rate with the 512 KiB minimum bucket): a burst of 600
  // frames puts the schedule ~20 s ahead of now.
  RateLimit slow;
  slow.bytes_per_second = {25'000, 25'000};
  slow.police_tolerance_ns = {20'000'000'000, 20'000'000'000};
  REQUIRE(fx.dp().set_limits({LimitUpdate{1, slow}}).ok());
  run(600);
  // 50 MB/s with a 500 ms tolerance. The bucket starts empty at the new rate and fills at it:
  // 10 ms later there is room for 500 frames, so a run of 100 passes whole (before the cut,
  // every frame was dropped until the old schedule's ~20 s had passed).
  RateLimit fast;
  fast.bytes_per_second = {50'000'000, 50'000'000};
  fast.police_tolerance_ns = {500'000'000, 500'000'000};
  REQUIRE(fx.dp().set_limits({LimitUpdate{1, fast}}).ok());
  run(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto before = fx.counters();
  run(100);
  const auto after = fx.counters();
  const std::uint64_t passed = after[1].packets[kEgress] - before[1].packets[kEgress];
  INFO("passed " << passed << " of 100, 10 ms after the rate went up");
  CHECK(passed == 100);
}

TEST_CASE("EDT pacing stamps departures one frame time apart and never drops within the horizon",
          "[kernel][bpf][rate]") {
  Fixture fx;
  const Frame f = ipv4("198.18.0.10", "198.18.0.1", 1000 - 34);
  fx.pace_edt();  // 1 ms per 1,000-byte frame, 2 s horizon
  std::vector<std::uint64_t> stamps;
  for (int i = 0; i < 8; ++i) {
    __sk_buff ctx{};
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.bytes.data(),
                .data_size_in = static_cast<std::uint32_t>(f.bytes.size()), .ctx_in = &ctx,
                .ctx_out = &ctx, .ctx_size_in = sizeof ctx, .ctx_size_out = sizeof ctx,
                .repeat = 1);
    REQUIRE(bpf_prog_test_run_opts(fx.dp().program_fd(Program::kEgressEdt), &opts) == 0);
    CHECK(static_cast<int>(opts.retval) == TC_ACT_UNSPEC);
    stamps.push_back(ctx.tstamp);
  }
  // An idle schedule restarts 2 ms in the past (the catch-up credit), so the first frames (at
  // most 3 of 1 ms) leave at once, unstamped; from then on each is stamped 1 ms after the last.
  std::size_t first = 0;
  while (first < stamps.size() && stamps[first] == 0) ++first;
  CHECK(first >= 1);
  CHECK(first <= 3);
  REQUIRE(first + 2 < stamps.size());
  for (std::size_t i = first + 1; i < stamps.size(); ++i) {
    INFO("frame " << i);
    CHECK(stamps[i] - stamps[i - 1] == 1'000'000);
  }
  CHECK(fx.counters()[1].dropped_packets[kEgress] == 0);
}

// Sends `repeat` copies of `f` through the EDT egress program; the verdict of the last, and its
// departure stamp (0 when it may leave at once) in *stamp.
int send_edt(Fixture& fx, const Frame& f, int repeat, std::uint64_t* stamp = nullptr) {
  __sk_buff ctx{};
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.bytes.data(),
              .data_size_in = static_cast<std::uint32_t>(f.bytes.size()), .repeat = repeat);
  if (stamp) {
    opts.ctx_in = &ctx;
    opts.ctx_out = &ctx;
    opts.ctx_size_in = opts.ctx_size_out = sizeof ctx;
  }
  REQUIRE(bpf_prog_test_run_opts(fx.dp().program_fd(Program::kEgressEdt), &opts) == 0);
  if (stamp) *stamp = ctx.tstamp;
  return static_cast<int>(opts.retval);
}

TEST_CASE("EDT: other traffic waits in line behind TCP's schedule and never cuts it back",
          "[kernel][bpf][rate]") {
  // Paced TCP runs the schedule up to the horizon ahead. A ping sent meanwhile takes the next
  // slot, as behind a FIFO shaper: it was once dropped (other traffic could only be scheduled 64
  // of its own packets ahead), and before that it cut TCP's schedule back, handing TCP's debt
  // back (2x the rate passed).
  Fixture fx;
  const Frame tcp = tcp_frame("198.18.0.10");
  const Frame ping = ipv4("198.18.0.10", "198.18.0.1", 1000 - 34);
  fx.pace_edt();           // 1 ms per 1,000-byte frame, 2 s horizon
  send_edt(fx, tcp, 500);  // TCP's schedule now runs ~500 ms ahead (within the 2 s horizon)
  std::uint64_t before = 0, other = 0, after = 0;
  REQUIRE(send_edt(fx, tcp, 1, &before) == TC_ACT_UNSPEC);
  CHECK(send_edt(fx, ping, 1, &other) == TC_ACT_UNSPEC);
  REQUIRE(send_edt(fx, tcp, 1, &after) == TC_ACT_UNSPEC);
  INFO("TCP stamps " << before << " then " << after << ", the ping between them " << other);
  CHECK(other - before == 1'000'000);  // the ping's slot: right after TCP's
  CHECK(after - other == 1'000'000);   // and TCP's next one after the ping's
  CHECK(fx.counters()[1].dropped_packets[kEgress] == 0);
}

TEST_CASE("EDT: a small packet other than TCP leaves at once beside TCP's schedule, still charged",
          "[kernel][bpf][rate]") {
  // A ping beside the experiment's paced TCP once waited for everything TCP had in fq (136 ms
  // at 10 Mbit/s in the vm). It leaves now, and TCP's next slot moves back by its cost.
  Fixture fx;
  const Frame tcp = tcp_frame("198.18.0.10");
  const Frame ping = ipv4("198.18.0.10", "198.18.0.1", 98 - 34);  // ping's 84 IP bytes
  fx.pace_edt();           // 1 ms per 1,000-byte frame, 2 s horizon
  send_edt(fx, tcp, 500);  // TCP's schedule now runs ~500 ms ahead
  std::uint64_t before = 0, other = 1, after = 0;
  REQUIRE(send_edt(fx, tcp, 1, &before) == TC_ACT_UNSPEC);
  CHECK(send_edt(fx, ping, 1, &other) == TC_ACT_UNSPEC);
  REQUIRE(send_edt(fx, tcp, 1, &after) == TC_ACT_UNSPEC);
  INFO("TCP stamps " << before << " then " << after << ", the ping " << other);
  CHECK(other == 0);                            // not held: fq sends it at once
  CHECK(after - before == 1'000'000 + 98'000);  // TCP's next slot pays for the ping's 98 bytes
  CHECK(fx.counters()[1].dropped_packets[kEgress] == 0);
}

TEST_CASE("EDT: small packets jump only the headroom's worth, then wait in line, then are dropped",
          "[kernel][bpf][rate]") {
  // 16 KiB of small packets may leave at once (a second schedule at the rate); the rest wait in
  // line behind TCP, at most 64 of them; beyond that they are dropped and not charged.
  Fixture fx;
  const Frame tcp = tcp_frame("198.18.0.10");
  const Frame small = ipv4("198.18.0.10", "198.18.0.1", 500 - 34);  // 0.5 ms each
  fx.pace_edt();  // 1 ms per 1,000-byte frame, 2 s horizon
  send_edt(fx, tcp, 500);
  std::uint64_t before = 0, after = 0;
  REQUIRE(send_edt(fx, tcp, 1, &before) == TC_ACT_UNSPEC);
  int jumped = 0, waited = 0, dropped = 0;
  int jumped_since = 0;  // since the last frame that waited
  bool jumped_between = false;
  std::uint64_t last_stamp = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 200; ++i) {
    // Halfway through those that wait, 3 ms refill the headroom by 6 frames: those jump again.
    if (i == 33 + 32) std::this_thread::sleep_for(std::chrono::milliseconds(3));
    std::uint64_t stamp = 0;
    if (send_edt(fx, small, 1, &stamp) == TC_ACT_SHOT) {
      ++dropped;
      continue;
    }
    INFO("frame " << i << " stamped " << stamp << " after " << last_stamp);
    if (stamp == 0) {
      ++jumped;  // also later, one frame per 0.5 ms the loop takes
      ++jumped_since;
    } else {
      CHECK(stamp > before);
      // The next slot of the schedule, after any frame that jumped meanwhile (charged too).
      if (last_stamp != 0) {
        CHECK(stamp - last_stamp == 500'000 * static_cast<std::uint64_t>(1 + jumped_since));
        jumped_between = jumped_between || jumped_since > 0;
      }
      last_stamp = stamp;
      jumped_since = 0;
      ++waited;
    }
  }
  const auto loop_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  INFO("jumped " << jumped << ", waited " << waited << ", dropped " << dropped << " in " << loop_us
                 << " us");
  // 16,384 bytes are 32.8 frames of 500 (a GCRA admits while the schedule is within the
  // headroom: 33 frames); while the loop runs the headroom refills one frame per 0.5 ms.
  CHECK(jumped >= 33 + 6);
  CHECK(jumped <= 33 + 1 + loop_us / 500);
  CHECK(jumped_between);
  CHECK(waited >= 64);
  CHECK(waited <= 64 + 2);
  CHECK(jumped + waited + dropped == 200);
  CHECK(fx.counters()[1].dropped_packets[kEgress] == static_cast<std::uint64_t>(dropped));
  // Every frame that passed, and none that was dropped, moved TCP's schedule on.
  REQUIRE(send_edt(fx, tcp, 1, &after) == TC_ACT_UNSPEC);
  CHECK(after - before == 1'000'000 + static_cast<std::uint64_t>(jumped + waited) * 500'000);
}

TEST_CASE("EDT: traffic other than TCP may have at most 64 packets waiting, TCP still passes",
          "[kernel][bpf][rate]") {
  // fq drops what exceeds its per-flow limit (100) after we admitted it, wasting the schedule:
  // a flood that is not TCP (no TCP Small Queues to hold it back) is dropped here beyond 64.
  Fixture fx;
  const Frame udp = ipv4("198.18.0.10", "198.18.0.1", 1000 - 34);
  fx.pace_edt();  // 1 ms per 1,000-byte frame, 2 s horizon
  CHECK(send_edt(fx, udp, 200) == TC_ACT_SHOT);
  const auto c = fx.counters()[1];
  // The first frames of an idle schedule leave at once (2 ms catch-up credit): they do not wait.
  INFO("passed " << c.packets[kEgress] << ", dropped " << c.dropped_packets[kEgress]);
  CHECK(c.packets[kEgress] >= 64);
  CHECK(c.packets[kEgress] <= 64 + 3);
  CHECK(c.packets[kEgress] + c.dropped_packets[kEgress] == 200);
  // TCP of the same experiment is not held back by the other traffic's queue, only by the
  // schedule: its frame gets the slot after the flood's last.
  std::uint64_t stamp = 0;
  CHECK(send_edt(fx, tcp_frame("198.18.0.10"), 1, &stamp) == TC_ACT_UNSPEC);
  CHECK(stamp > 0);
  // Once the waiting frames have left (64 ms at 1 ms each), the flood is admitted again.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(send_edt(fx, udp, 1) == TC_ACT_UNSPEC);
}
