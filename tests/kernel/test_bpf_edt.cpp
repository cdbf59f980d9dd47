// kernel tier: EDT pacing through BPF_PROG_TEST_RUN: departure stamps, the horizon, other
// traffic in line behind TCP, small packets jumping the headroom, the bounded queue. Needs root.
#include <catch2/catch.hpp>

#include "bpf_test_frames.hpp"

using namespace enforcer;
using namespace enforcer::bpf_test;

namespace {
// An idle schedule restarts its catch-up credit in the past (account.bpf.c): 2 ms plus one GSO
// aggregate (64 KiB) at the rate; at pace_edt's 1 MB/s, 67.5 frames of 1,000 bytes leave at once.
constexpr std::size_t kIdleCreditFrames = 67;

std::size_t elapsed_ms(std::chrono::steady_clock::time_point since) {
  return static_cast<std::size_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::steady_clock::now() - since)
                                      .count());
}
}  // namespace

TEST_CASE("EDT pacing stamps departures one frame time apart and never drops within the horizon",
          "[kernel][bpf][rate]") {
  Fixture fx;
  const Frame f = ipv4("198.18.0.10", "198.18.0.1", 1000 - 34);
  fx.pace_edt();  // 1 ms per 1,000-byte frame, 2 s horizon
  std::vector<std::uint64_t> stamps;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {
    __sk_buff ctx{};
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.bytes.data(),
                .data_size_in = static_cast<std::uint32_t>(f.bytes.size()), .ctx_in = &ctx,
                .ctx_out = &ctx, .ctx_size_in = sizeof ctx, .ctx_size_out = sizeof ctx,
                .repeat = 1);
    REQUIRE(bpf_prog_test_run_opts(fx.dp().program_fd(Program::kEgressEdt), &opts) == 0);
    CHECK(static_cast<int>(opts.retval) == TC_ACT_UNSPEC);
    stamps.push_back(ctx.tstamp);
  }
  const auto loop_ms = elapsed_ms(t0);
  // An idle schedule restarts its credit in the past, so the first frames leave at once,
  // unstamped (one more for each millisecond the loop took); from then on each is stamped 1 ms
  // after the last.
  std::size_t first = 0;
  while (first < stamps.size() && stamps[first] == 0) ++first;
  INFO("the loop took " << loop_ms << " ms");
  CHECK(first >= kIdleCreditFrames);
  CHECK(first <= kIdleCreditFrames + 2 + loop_ms);
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

TEST_CASE("EDT: a TCP segment without data leaves at once beside the paced data, still charged",
          "[kernel][bpf][rate]") {
  // An experiment that downloads while its upload is paced sends its download's ACKs on the same
  // schedule: behind the upload's data they would wait up to the horizon, and the download would
  // run at the pace of its ACKs. Without data (v4 and v6) they leave at once, charged like a
  // ping; a small segment with data keeps its place in line.
  Fixture fx;
  const Frame data = tcp_frame("198.18.0.10");
  fx.pace_edt();            // 1 ms per 1,000-byte frame, 2 s horizon
  send_edt(fx, data, 500);  // the upload's schedule now runs ~500 ms ahead
  for (const Frame& ack :
       {tcp("198.18.0.10", "198.18.0.1", 32, 0), tcp("2001:db8::10", "2001:db8::1", 32, 0)}) {
    INFO(ack.what << ", " << ack.bytes.size() << " bytes");
    std::uint64_t before = 0, stamp = 1, after = 0;
    REQUIRE(send_edt(fx, data, 1, &before) == TC_ACT_UNSPEC);
    CHECK(send_edt(fx, ack, 1, &stamp) == TC_ACT_UNSPEC);
    REQUIRE(send_edt(fx, data, 1, &after) == TC_ACT_UNSPEC);
    CHECK(stamp == 0);                                              // not held: fq sends it at once
    CHECK(after - before == 1'000'000 + ack.bytes.size() * 1'000);  // charged to the schedule
  }
  const Frame small_data = tcp("198.18.0.10", "198.18.0.1", 32, 100);
  std::uint64_t before = 0, stamp = 0;
  REQUIRE(send_edt(fx, data, 1, &before) == TC_ACT_UNSPEC);
  CHECK(send_edt(fx, small_data, 1, &stamp) == TC_ACT_UNSPEC);
  CHECK(stamp == before + 1'000'000);  // data waits in line, however small
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
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(send_edt(fx, udp, 300) == TC_ACT_SHOT);
  const auto run_ms = elapsed_ms(t0);
  const auto c = fx.counters()[1];
  // The first frames of an idle schedule leave at once (its catch-up credit): they do not wait.
  // Each millisecond the run takes lets one more leave, or frees a waiting frame's place.
  INFO("passed " << c.packets[kEgress] << ", dropped " << c.dropped_packets[kEgress] << " in "
                 << run_ms << " ms");
  CHECK(c.packets[kEgress] >= kIdleCreditFrames + 64);
  CHECK(c.packets[kEgress] <= kIdleCreditFrames + 64 + 2 + 2 * run_ms);
  CHECK(c.packets[kEgress] + c.dropped_packets[kEgress] == 300);
  // TCP of the same experiment is not held back by the other traffic's queue, only by the
  // schedule: its frame gets the slot after the flood's last.
  std::uint64_t stamp = 0;
  CHECK(send_edt(fx, tcp_frame("198.18.0.10"), 1, &stamp) == TC_ACT_UNSPEC);
  CHECK(stamp > 0);
  // Once the waiting frames have left (64 ms at 1 ms each), the flood is admitted again.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(send_edt(fx, udp, 1) == TC_ACT_UNSPEC);
}
