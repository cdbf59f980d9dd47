// The quota walker's hand-over between its thread and the loop (the walk itself, set_project, is
// proven on XFS and ext4 in the vm tier). Here the directories do not exist, so every walk ends
// at once with an error, which is enough to see requests, de-duplication and outcomes.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "pods/quota_walker.hpp"

using enforcer::QuotaWalker;

namespace {

std::vector<QuotaWalker::Outcome> wait_for(QuotaWalker& w, std::size_t n) {
  std::vector<QuotaWalker::Outcome> all;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (all.size() < n && std::chrono::steady_clock::now() < until) {
    for (auto& o : w.finished()) all.push_back(std::move(o));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return all;
}

}  // namespace

TEST_CASE("the quota walker hands every walk's outcome back, in order", "[quota_walker]") {
  QuotaWalker w;
  w.request({"a", "/nonexistent/enforcer-test/a", 10001});
  w.request({"b", "/nonexistent/enforcer-test/b", 10002});
  const auto all = wait_for(w, 2);
  REQUIRE(all.size() == 2);
  CHECK(all[0].job.experiment == "a");
  CHECK(all[1].job.experiment == "b");
  for (const auto& o : all) {
    CHECK_FALSE(o.tagged);
    CHECK(o.error.find(o.job.dir) != std::string::npos);
  }
  CHECK_FALSE(w.busy());
  CHECK(w.finished().empty());
}

TEST_CASE("the quota walker does not queue the same walk twice", "[quota_walker]") {
  QuotaWalker w;
  // Many requests from the loop while the thread runs: at most one queued per job, so at most
  // one more outcome than the number of walks under way when they came.
  for (int i = 0; i < 1000; ++i) w.request({"a", "/nonexistent/enforcer-test/a", 10001});
  const auto all = wait_for(w, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const std::size_t more = w.finished().size();
  CHECK(all.size() + more >= 1);
  CHECK(all.size() + more < 1000);
}

TEST_CASE("a quota walker with work queued stops promptly", "[quota_walker]") {
  const auto start = std::chrono::steady_clock::now();
  {
    QuotaWalker w;
    for (int i = 0; i < 100; ++i) {
      w.request({fmt::format("x{}", i), "/nonexistent/enforcer-test", 1});
    }
  }
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}
