#include <catch2/catch.hpp>

#include "control/client_slots.hpp"

using enforcer::ClientSlots;

TEST_CASE("a uid holds at most its share of the control socket's slots", "[client_slots]") {
  ClientSlots slots(10, 2, 3);
  for (int i = 0; i < 3; ++i) REQUIRE(slots.take(1000).empty());
  const std::string refusal = slots.take(1000);
  CHECK(refusal.starts_with("busy"));
  CHECK(refusal.find("uid 1000 already holds 3") != std::string::npos);
  CHECK(slots.held_by(1000) == 3);
  // Another uid is not held back by the first one's share.
  CHECK(slots.take(1001).empty());
  slots.release(1000);
  CHECK(slots.take(1000).empty());
  CHECK(slots.in_use() == 4);
}

TEST_CASE("readers cannot take the slots kept for root", "[client_slots]") {
  ClientSlots slots(6, 2, 100);
  for (std::uint32_t uid = 1; uid <= 4; ++uid) REQUIRE(slots.take(uid).empty());
  const std::string refusal = slots.take(5);
  CHECK(refusal.starts_with("busy"));
  CHECK(refusal.find("kept for root") != std::string::npos);
  CHECK(slots.take(0).empty());
  CHECK(slots.take(0).empty());
  CHECK(slots.take(0).starts_with("busy"));  // every slot taken
  CHECK(slots.in_use() == 6);
  slots.release(0);
  CHECK(slots.take(7).starts_with("busy"));  // 5 in use: the free slot is one of the last two
  slots.release(3);
  CHECK(slots.held_by(3) == 0);
  CHECK(slots.take(7).starts_with("busy"));  // 4 in use
  slots.release(0);
  CHECK(slots.take(7).empty());  // 3 in use: the fourth slot is open to all again
}
