// kernel tier: classification through the exact-address table (bpf/enforcer_abi.h,
// lib/datapath/exact_table.hpp) run by the kernel through BPF_PROG_TEST_RUN: hits, collisions
// within the probe bound, an address whose window is full (in the trie), removal, prefixes beside
// it, a fresh layout, updates racing the programs, and adopting a datapath that had no table.
#include <bpf/libbpf.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "bpf_test_frames.hpp"
#include "datapath/exact_table.hpp"

using namespace enforcer;
using namespace enforcer::bpf_test;

namespace {

constexpr std::uint32_t kMaxExperiments = 16;

std::string pin_dir() {
  return "/sys/fs/bpf/enforcer-exact-" + std::to_string(getpid());
}

std::unique_ptr<BpfDatapath> create() {
  auto dp = BpfDatapath::create(BpfDatapathOptions{pin_dir(), {}, kMaxExperiments});
  if (!dp) FAIL("cannot load the datapath: " << dp.error().message);
  return std::move(*dp);
}

std::vector<Prefix> prefixes(const std::vector<std::string>& texts) {
  std::vector<Prefix> out;
  for (const auto& t : texts) out.push_back(*parse_prefix(t));
  return out;
}

// The experiment the egress program counts a frame from `src` under (0: unattributed).
std::uint32_t egress_id(BpfDatapath& dp, const std::string& src, std::uint32_t repeat = 1) {
  const bool v6 = src.find(':') != std::string::npos;
  const Frame f = v6 ? ipv6(src.c_str(), "2001:db8::1", 100) : ipv4(src.c_str(), "198.18.0.1", 100);
  std::vector<CounterSample> before, after;
  REQUIRE(dp.read_counters(kMaxExperiments, before).ok());
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.bytes.data(),
              .data_size_in = static_cast<std::uint32_t>(f.bytes.size()),
              .repeat = static_cast<int>(repeat));
  REQUIRE(bpf_prog_test_run_opts(dp.program_fd(Program::kEgressPolice), &opts) == 0);
  REQUIRE(dp.read_counters(kMaxExperiments, after).ok());
  std::uint32_t found = kMaxExperiments + 1;
  for (std::uint32_t id = 0; id <= kMaxExperiments; ++id) {
    const std::uint64_t n = after[id].packets[kEgress] - before[id].packets[kEgress];
    if (n == 0) continue;
    INFO(src << ": " << n << " of " << repeat << " packets on id " << id);
    CHECK(n == repeat);
    CHECK(found == kMaxExperiments + 1);
    found = id;
  }
  return found;
}

// The map pinned as `name`'s fd.
Fd pinned(const char* name) {
  Fd fd(bpf_obj_get((pin_dir() + "/" + name).c_str()));
  REQUIRE(fd);
  return fd;
}

bool in_trie_v4(const std::string& addr) {
  const Fd fd = pinned("addr_v4");
  enforcer_lpm_v4 key{32, {}};
  inet_pton(AF_INET, addr.c_str(), key.addr);
  std::uint32_t id = 0;
  return bpf_map_lookup_elem(fd.get(), &key, &id) == 0;
}

enforcer_addr_ctl control() {
  const Fd fd = pinned("addr_ctl");
  std::uint32_t zero = 0;
  enforcer_addr_ctl ctl{};
  REQUIRE(bpf_map_lookup_elem(fd.get(), &zero, &ctl) == 0);
  return ctl;
}

std::uint32_t first_slot(const std::string& text) {
  const auto key = exact_key(*parse_prefix(text));
  return enforcer_exact_hash(key->addr[0], key->addr[1], key->addr[2], key->addr[3],
                             BpfDatapath::exact_slot_bits(kMaxExperiments));
}

// `n` IPv4 addresses in 198.18.0.0/16 whose windows start at the same slot.
std::vector<std::string> colliding_v4(std::size_t n) {
  std::map<std::uint32_t, std::vector<std::string>> by_slot;
  for (int a = 2; a < 256; ++a) {
    for (int b = 1; b < 255; ++b) {
      const std::string addr = "198.18." + std::to_string(a) + "." + std::to_string(b);
      auto& same = by_slot[first_slot(addr)];
      same.push_back(addr);
      if (same.size() == n) return same;
    }
  }
  FAIL("no " << n << " colliding addresses");
  return {};
}

}  // namespace

TEST_CASE("full-length addresses are classified through the exact table, IPv4 and IPv6",
          "[kernel][bpf][exact]") {
  auto dp = create();
  REQUIRE(dp->add_experiment(1, prefixes({"198.18.0.10", "2001:db8::10"})).ok());
  REQUIRE(dp->add_experiment(2, prefixes({"198.18.0.20", "2001:db8::20"})).ok());
  CHECK(egress_id(*dp, "198.18.0.10") == 1);
  CHECK(egress_id(*dp, "2001:db8::10") == 1);
  CHECK(egress_id(*dp, "198.18.0.20") == 2);
  CHECK(egress_id(*dp, "2001:db8::20") == 2);
  CHECK(egress_id(*dp, "198.18.0.30") == 0);
  CHECK(egress_id(*dp, "2001:db8::30") == 0);
  // Nothing in the tries, and the programs know it: no trie lookup at all.
  CHECK_FALSE(in_trie_v4("198.18.0.10"));
  CHECK(control().trie_v4 == 0);
  CHECK(control().trie_v6 == 0);

  SECTION("a prefix goes to the trie and still matches; the exact address beats it") {
    REQUIRE(dp->add_experiment(3, prefixes({"198.18.0.0/24", "2001:db8::/64"})).ok());
    CHECK(control().trie_v4 == 1);
    CHECK(egress_id(*dp, "198.18.0.30") == 3);
    CHECK(egress_id(*dp, "2001:db8::30") == 3);
    CHECK(egress_id(*dp, "198.18.0.10") == 1);
    CHECK(egress_id(*dp, "2001:db8::20") == 2);
    REQUIRE(dp->remove_experiment(3, prefixes({"198.18.0.0/24", "2001:db8::/64"})).ok());
    CHECK(control().trie_v4 == 0);
    CHECK(egress_id(*dp, "198.18.0.30") == 0);
  }
  SECTION("a removed address stops matching; moved to another experiment, it follows") {
    REQUIRE(dp->remove_addresses(prefixes({"198.18.0.10", "2001:db8::10"})).ok());
    CHECK(egress_id(*dp, "198.18.0.10") == 0);
    CHECK(egress_id(*dp, "2001:db8::10") == 0);
    REQUIRE(dp->add_experiment(4, prefixes({"198.18.0.10"})).ok());
    CHECK(egress_id(*dp, "198.18.0.10") == 4);
    REQUIRE(dp->keep_experiment(2, prefixes({"198.18.0.10"})).ok());
    CHECK(egress_id(*dp, "198.18.0.10") == 2);
  }
}

TEST_CASE("colliding addresses share a window up to the probe bound; beyond it, the trie",
          "[kernel][bpf][exact]") {
  auto dp = create();
  const auto same = colliding_v4(ENFORCER_EXACT_PROBES + 1);
  for (std::uint32_t i = 0; i < same.size(); ++i) {
    REQUIRE(dp->add_experiment(i + 1, prefixes({same[i]})).ok());
  }
  for (std::uint32_t i = 0; i < same.size(); ++i) {
    INFO(same[i]);
    CHECK(egress_id(*dp, same[i]) == i + 1);
    // The last found its window full: it is in the trie, which the programs now look in.
    CHECK(in_trie_v4(same[i]) == (i == ENFORCER_EXACT_PROBES));
  }
  CHECK(control().trie_v4 == 1);

  SECTION("removing the first of a window keeps the ones behind it") {
    REQUIRE(dp->remove_addresses(prefixes({same[0]})).ok());
    CHECK(egress_id(*dp, same[0]) == 0);
    for (std::uint32_t i = 1; i < same.size(); ++i) CHECK(egress_id(*dp, same[i]) == i + 1);
    REQUIRE(dp->remove_addresses(prefixes({same.back()})).ok());
    CHECK_FALSE(in_trie_v4(same.back()));
    CHECK(control().trie_v4 == 0);
    CHECK(egress_id(*dp, same.back()) == 0);
  }
  SECTION("a fresh layout frees removed slots and takes the overflow out of the trie") {
    // Removed slots beyond a quarter of the half lay the table out afresh.
    const std::uint32_t slots = 1u << BpfDatapath::exact_slot_bits(kMaxExperiments);
    REQUIRE(dp->remove_addresses(prefixes({same[0]})).ok());
    const std::uint32_t window = first_slot(same[0]);
    for (std::uint32_t i = 0, n = 0; n <= slots / 4; ++i) {
      const std::string a = "198.19." + std::to_string(i >> 8) + "." + std::to_string(i & 255);
      // Not near the colliding ones' window: those would fill it again.
      if (((first_slot(a) - window + ENFORCER_EXACT_PROBES) & (slots - 1)) <
          2 * ENFORCER_EXACT_PROBES) {
        continue;
      }
      ++n;
      REQUIRE(dp->keep_experiment(7, prefixes({a})).ok());
      REQUIRE(dp->remove_addresses(prefixes({a})).ok());
    }
    CHECK_FALSE(in_trie_v4(same.back()));
    CHECK(control().trie_v4 == 0);
    CHECK(egress_id(*dp, same[0]) == 0);
    for (std::uint32_t i = 1; i < same.size(); ++i) CHECK(egress_id(*dp, same[i]) == i + 1);
  }
}

TEST_CASE("updates racing the programs never attribute a packet to a wrong experiment",
          "[kernel][bpf][exact]") {
  auto dp = create();
  // `stable` never changes; `moving` goes back and forth between experiments 2 and 3; others in
  // stable's window come and go (removed slots, fresh layouts in the other half).
  const auto same = colliding_v4(4);
  const std::string stable = same[1], moving = same[2];
  REQUIRE(dp->add_experiment(1, prefixes({stable})).ok());
  REQUIRE(dp->add_experiment(2, prefixes({moving})).ok());
  REQUIRE(dp->add_experiment(3, {}).ok());
  std::atomic<bool> done{false};
  std::thread writer([&] {
    std::uint32_t round = 0;
    while (!done.load()) {
      const std::uint32_t to = round % 2 ? 2 : 3;
      (void)dp->keep_experiment(to, prefixes({moving}));
      (void)dp->keep_experiment(4, prefixes({same[0], same[3]}));
      (void)dp->remove_addresses(prefixes({same[0], same[3]}));
      const std::string other =
          "198.19." + std::to_string((round >> 8) & 255) + "." + std::to_string(round & 255);
      (void)dp->keep_experiment(5, prefixes({other}));
      (void)dp->remove_addresses(prefixes({other}));
      ++round;
    }
  });
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < until) {
    CHECK(egress_id(*dp, stable, 20'000) == 1);
    const std::uint32_t id = egress_id(*dp, moving, 1);
    CHECK((id == 2 || id == 3));
  }
  done = true;
  writer.join();
}

TEST_CASE("a datapath of an older layout (tries only) is adopted without a gap",
          "[kernel][bpf][exact]") {
  {
    auto old_dp = create();
    REQUIRE(old_dp->add_experiment(1, prefixes({"198.18.0.10"})).ok());
    old_dp->hold();
  }
  // What an older build left: the full-length address in the trie, no exact table.
  {
    const Fd trie = pinned("addr_v4");
    enforcer_lpm_v4 key{32, {}};
    inet_pton(AF_INET, "198.18.0.10", key.addr);
    const std::uint32_t id = 1;
    REQUIRE(bpf_map_update_elem(trie.get(), &key, &id, BPF_ANY) == 0);
  }
  REQUIRE(unlink((pin_dir() + "/addr_exact").c_str()) == 0);
  REQUIRE(unlink((pin_dir() + "/addr_ctl").c_str()) == 0);

  auto dp = create();
  REQUIRE(dp->adopted());
  // Before the new instance wrote anything, the adopted trie attributes.
  CHECK(control().trie_v4 == 1);
  CHECK(egress_id(*dp, "198.18.0.10") == 1);
  REQUIRE(dp->keep_experiment(1, prefixes({"198.18.0.10"})).ok());
  CHECK(egress_id(*dp, "198.18.0.10") == 1);
  CHECK(dp->prune_addresses() == 1);  // the trie's full-length entry: the table has it now
  CHECK_FALSE(in_trie_v4("198.18.0.10"));
  CHECK(control().trie_v4 == 0);
  CHECK(egress_id(*dp, "198.18.0.10") == 1);
  // The new pins are there, and go with the datapath.
  CHECK(access((pin_dir() + "/addr_exact").c_str(), F_OK) == 0);
  dp.reset();
  CHECK(access((pin_dir() + "/addr_exact").c_str(), F_OK) != 0);
  CHECK(access(pin_dir().c_str(), F_OK) != 0);
}

TEST_CASE("a restarted datapath adopts the exact table and prunes what is not kept",
          "[kernel][bpf][exact]") {
  {
    auto old_dp = create();
    REQUIRE(old_dp->add_experiment(1, prefixes({"198.18.0.10", "2001:db8::10"})).ok());
    REQUIRE(old_dp->add_experiment(2, prefixes({"198.18.0.20"})).ok());
    old_dp->hold();
  }
  auto dp = create();
  REQUIRE(dp->adopted());
  CHECK(egress_id(*dp, "198.18.0.10") == 1);
  CHECK(egress_id(*dp, "2001:db8::10") == 1);
  CHECK(egress_id(*dp, "198.18.0.20") == 2);
  REQUIRE(dp->keep_experiment(1, prefixes({"198.18.0.10", "2001:db8::10"})).ok());
  CHECK(dp->prune_addresses() == 1);
  CHECK(egress_id(*dp, "198.18.0.10") == 1);
  CHECK(egress_id(*dp, "2001:db8::10") == 1);
  CHECK(egress_id(*dp, "198.18.0.20") == 0);
}
