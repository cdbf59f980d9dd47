// unit tier: the layout of the exact-address table (lib/datapath/exact_table.hpp): placement
// within the probe window, removed slots, a fresh layout, and reading a half back.
#include <catch2/catch.hpp>
#include <map>

#include "datapath/exact_table.hpp"

using namespace enforcer;

namespace {

ExactKey key(const char* text) {
  auto p = parse_prefix(text);
  REQUIRE(p.ok());
  auto k = exact_key(*p);
  REQUIRE(k.has_value());
  return *k;
}

std::uint32_t first_slot(const ExactKey& k, unsigned bits) {
  return enforcer_exact_hash(k.addr[0], k.addr[1], k.addr[2], k.addr[3], bits);
}

// `n` IPv4 keys whose windows start at the same slot of a table of 2^bits slots.
std::vector<ExactKey> colliding(std::size_t n, unsigned bits) {
  std::map<std::uint32_t, std::vector<ExactKey>> by_slot;
  for (int a = 0; a < 256; ++a) {
    for (int b = 1; b < 255; ++b) {
      const std::string text = "198.18." + std::to_string(a) + "." + std::to_string(b);
      const ExactKey k = key(text.c_str());
      auto& same = by_slot[first_slot(k, bits)];
      same.push_back(k);
      if (same.size() == n) return same;
    }
  }
  FAIL("no " << n << " colliding keys");
  return {};
}

// What a reader of the slots finds for `k` (the programs' search, exact_lookup).
std::uint32_t search(const ExactTable& t, const ExactKey& k) {
  const std::uint32_t first = first_slot(k, t.slot_bits());
  for (std::uint32_t probe = 0; probe < ENFORCER_EXACT_PROBES; ++probe) {
    const enforcer_exact_slot& s = t.slots()[(first + probe) & (t.slot_count() - 1)];
    if (s.id == ENFORCER_EXACT_EMPTY) return 0;
    if (s.family == k.family && std::equal(k.addr.begin(), k.addr.end(), s.addr)) {
      return s.id == ENFORCER_EXACT_REMOVED ? 0 : s.id;
    }
  }
  return 0;
}

}  // namespace

TEST_CASE("only full-length addresses have exact keys", "[unit][exact]") {
  CHECK(exact_key(*parse_prefix("198.18.0.1")).has_value());
  CHECK(exact_key(*parse_prefix("2001:db8::1")).has_value());
  CHECK_FALSE(exact_key(*parse_prefix("198.18.0.0/24")).has_value());
  CHECK_FALSE(exact_key(*parse_prefix("2001:db8::/64")).has_value());
  CHECK(key("198.18.0.1").family == 4);
  CHECK(key("2001:db8::1").family == 6);
  CHECK(key("198.18.0.1").addr[1] == 0);
}

TEST_CASE("the table keeps its load at most 50 %", "[unit][exact]") {
  CHECK(ExactTable::bits_for(1) == 4);
  CHECK(ExactTable::bits_for(512) == 10);
  CHECK(ExactTable::bits_for(513) == 11);
  CHECK(ExactTable::bits_for(20'000) == 16);
}

TEST_CASE("colliding keys fill their window, then find no slot", "[unit][exact]") {
  ExactTable t(10);
  const auto same = colliding(ENFORCER_EXACT_PROBES + 1, 10);
  for (std::uint32_t i = 0; i < ENFORCER_EXACT_PROBES; ++i) {
    auto slot = t.place(same[i]);
    REQUIRE(slot.has_value());
    CHECK(*slot == ((first_slot(same[i], 10) + i) & 1023));
    t.set(*slot, same[i], i + 1);
  }
  CHECK_FALSE(t.place(same.back()).has_value());
  CHECK_FALSE(t.window_has_removed(same.back()));
  for (std::uint32_t i = 0; i < ENFORCER_EXACT_PROBES; ++i) CHECK(search(t, same[i]) == i + 1);
  CHECK(search(t, same.back()) == 0);
  CHECK(t.live() == ENFORCER_EXACT_PROBES);

  SECTION("a removed slot keeps the search going, and only its own key may take it back") {
    REQUIRE(t.remove(same[0]).has_value());
    CHECK_FALSE(t.remove(same[0]).has_value());
    CHECK(search(t, same[0]) == 0);
    for (std::uint32_t i = 1; i < ENFORCER_EXACT_PROBES; ++i) CHECK(search(t, same[i]) == i + 1);
    CHECK_FALSE(t.place(same.back()).has_value());
    CHECK(t.window_has_removed(same.back()));
    auto again = t.place(same[0]);
    REQUIRE(again.has_value());
    t.set(*again, same[0], 9);
    CHECK(search(t, same[0]) == 9);
    CHECK(t.removed() == 0);
    CHECK(t.live() == ENFORCER_EXACT_PROBES);
  }
  SECTION("a fresh layout drops removed slots and places what did not fit") {
    REQUIRE(t.remove(same[0]).has_value());
    auto entries = t.entries();
    entries.emplace_back(same.back(), 5);
    auto [fresh, overflow] = ExactTable::build(10, entries);
    CHECK(overflow.empty());
    CHECK(fresh.removed() == 0);
    CHECK(fresh.live() == ENFORCER_EXACT_PROBES);
    CHECK(search(fresh, same[0]) == 0);
    CHECK(search(fresh, same.back()) == 5);
    entries.emplace_back(same[0], 6);
    auto [full, rest] = ExactTable::build(10, entries);
    REQUIRE(rest.size() == 1);
    CHECK(rest[0].second == 6);
  }
  SECTION("a half read back is the same table") {
    REQUIRE(t.remove(same[1]).has_value());
    const ExactTable back = ExactTable::from_slots(10, t.slots().data());
    CHECK(back.live() == t.live());
    CHECK(back.removed() == 1);
    CHECK(back.entries() == t.entries());
    CHECK(back.place(same[1]) == t.place(same[1]));
  }
}

TEST_CASE("a quarter of the slots removed asks for a fresh layout", "[unit][exact]") {
  ExactTable t(4);  // 16 slots
  std::vector<ExactKey> keys;
  for (int i = 1; keys.size() < 5; ++i) {
    const ExactKey k = key(("2001:db8::" + std::to_string(i)).c_str());
    if (auto slot = t.place(k)) {
      t.set(*slot, k, 1);
      keys.push_back(k);
    }
  }
  for (int i = 0; i < 4; ++i) REQUIRE(t.remove(keys[i]).has_value());
  CHECK_FALSE(t.wants_rebuild());
  REQUIRE(t.remove(keys[4]).has_value());
  CHECK(t.wants_rebuild());
}
