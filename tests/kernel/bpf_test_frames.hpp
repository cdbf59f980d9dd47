// Shared by the BPF_PROG_TEST_RUN tests (tests/kernel/test_bpf_*.cpp): hand-built frames and
// a fixture that loads the accounting programs and runs frames through them. Needs root.
#pragma once

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

namespace enforcer::bpf_test {

struct Frame {
  std::string what;
  std::vector<std::uint8_t> bytes;
};

inline void put16(std::vector<std::uint8_t>& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}

inline std::vector<std::uint8_t> addr_bytes(const char* text) {
  auto p = parse_prefix(text);
  REQUIRE(p.ok());
  return std::vector<std::uint8_t>(p->bytes.begin(), p->bytes.begin() + (p->v6 ? 16 : 4));
}

// Ethernet (+ `tags` VLAN tags: one 802.1Q, or an 802.1ad outer and an 802.1Q inner one, QinQ)
// + IPv4 header + payload. `frag` sets MF and an offset.
inline Frame ipv4(const char* src, const char* dst, std::size_t payload, int tags = 0,
                  bool frag = false) {
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
inline Frame ipv6(const char* src, const char* dst, std::size_t payload, bool frag = false) {
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
inline Frame tcp(const char* src, const char* dst, std::size_t tcp_header, std::size_t payload,
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

inline Frame arp() {
  std::vector<std::uint8_t> b(14 + 28, 0);
  std::memset(b.data(), 0xff, 6);
  put16(b, 12, ETH_P_ARP);
  return {"ARP", b};
}

// A 1,000-byte IPv4 TCP frame from `src` (the payload is not a real TCP header: only the
// protocol number matters to the programs).
inline Frame tcp_frame(const char* src) {
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

}  // namespace enforcer::bpf_test
