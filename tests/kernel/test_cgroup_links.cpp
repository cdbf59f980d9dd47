// kernel tier: the cgroup_skb links pinned as the daemon pins them: they outlive a held datapath,
// the next one adopts them, a pod scan claims them once, the rest are released. Needs root.
#include <catch2/catch.hpp>

#include "cgroup_skb_fixture.hpp"

using namespace enforcer;
using namespace enforcer::cgroup_skb_test;

TEST_CASE("pinned cgroup links outlive a held datapath; the next one adopts, claims, releases",
          "[kernel][cgroup]") {
  Fixture fx(true);
  REQUIRE(fx.dp().add_experiment(2, {}).ok());
  REQUIRE(fx.dp().attach_cgroup(2, fx.outside).ok());  // an experiment not configured below
  auto pins = [&] {
    std::size_t n = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(fx.pin_dir() + "/cgroup_links", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      ++n;
    }
    return n;
  };
  CHECK(pins() == 4);
  const std::vector<int> server = {fx.udp_socket_in(fx.srv, "198.18.0.1", 9000),
                                   fx.udp_socket_in(fx.srv, "2001:db8::1", 9000)};
  constexpr int kN = 50;
  constexpr std::size_t kSize = 500;
  constexpr std::uint64_t kBytes =
      kN * (kEthHlen + 20 + 8 + kSize) + kN * (kEthHlen + 40 + 8 + kSize);
  const Counts before = fx.counts(kExp);
  fx.hold_and_drop();
  exchange(fx, fx.cgroup, server, kN, kSize);  // no instance at all: the pinned links still count
  fx.adopt();
  CHECK(fx.dp().cgroup_attachments() == 2);  // adopted, not claimed yet
  const Counts held = fx.counts(kExp);
  for (Direction d : kDirections) CHECK(held.bytes[d] - before.bytes[d] == kBytes);

  // The pod scan finds the experiment's cgroup: the adopted links are claimed, not doubled.
  REQUIRE(fx.dp().attach_cgroup(kExp, fx.cgroup).ok());
  CHECK(fx.dp().cgroup_attachments() == 2);
  exchange(fx, fx.cgroup, server, kN, kSize);
  const Counts claimed = fx.counts(kExp);
  for (Direction d : kDirections) CHECK(claimed.bytes[d] - held.bytes[d] == kBytes);

  // The scan is over without the other cgroup: its links go, pins and all.
  CHECK(fx.dp().release_unclaimed_cgroups() == 1);
  CHECK(fx.dp().cgroup_attachments() == 1);
  CHECK(pins() == 2);
  for (int s : server) close(s);
}
