// The status files written off the loop (lib/control/status_writer.hpp) and the thread that runs
// such jobs (lib/base/worker_thread.hpp): a pass reads the live state through the inputs the loop
// handed over (a change between passes shows without new inputs), an experiment left out of the
// inputs loses its file; jobs run in order, a waiting job is replaced by a newer one, flush()
// waits, and the destructor runs what waits.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/worker_thread.hpp"
#include "control/status_writer.hpp"
#include "temp_dir.hpp"

using namespace enforcer;
using enforcer::test::read_all;
using enforcer::test::TempDir;
using nlohmann::json;

namespace {

json read_json(const std::filesystem::path& path) {
  return json::parse(read_all(path));
}

std::shared_ptr<ExperimentState> experiment(std::uint32_t id, const std::string& name) {
  ExperimentConfig c;
  c.name = name;
  c.allocation.bandwidth_bits = 100'000'000;
  return std::make_shared<ExperimentState>(id, c, 5);
}

StatusInput input(const std::shared_ptr<ExperimentState>& x, const std::string& pod) {
  StatusInput in;
  in.name = x->name;
  in.state = x;
  in.effective.allocation = x->allocation;
  in.pod = pod;
  return in;
}

const auto kAt = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));

}  // namespace

TEST_CASE("a status pass reads the live state through the inputs it was handed", "[status]") {
  TempDir dir;
  auto ndt = experiment(1, "ndt");
  auto wehe = experiment(2, "wehe");
  auto inputs = std::make_shared<StatusInputs>();
  inputs->tick = std::chrono::seconds(1);
  inputs->experiments = {input(ndt, "/kubepods.slice/ndt"), input(wehe, "")};
  StatusWriter writer(dir.path.string());
  writer.submit(inputs, kAt);
  writer.flush();
  json a = read_json(dir.path / "ndt.json");
  CHECK(a["name"] == "ndt");
  CHECK(a["pod"] == "/kubepods.slice/ndt");
  CHECK(a["allocation"]["bandwidth_bits"] == 100'000'000);
  CHECK(a["egress"]["bytes_total"] == 0);
  CHECK(a["tick_ns"] == 1'000'000'000);
  CHECK(read_json(dir.path / "wehe.json")["pod"] == "");

  // The sampler moves on; the same inputs show it.
  ndt->direction[kEgress].bytes_total = 12'345;
  writer.submit(inputs, kAt + std::chrono::seconds(1));
  writer.flush();
  CHECK(read_json(dir.path / "ndt.json")["egress"]["bytes_total"] == 12'345);
  CHECK(writer.stats().passes == 2);
  CHECK(writer.stats().failed_passes == 0);

  // wehe is no longer configured: its file goes.
  auto fewer = std::make_shared<StatusInputs>(*inputs);
  fewer->experiments.pop_back();
  writer.submit(fewer, kAt + std::chrono::seconds(2));
  writer.flush();
  CHECK(dir.names() == std::vector<std::string>{"ndt.json"});
}

TEST_CASE("a status pass that cannot write is counted, and the next one writes", "[status]") {
  TempDir dir;
  const auto target = dir.path / "status";
  enforcer::test::put(target, "a file where the directory should be\n");
  auto ndt = experiment(1, "ndt");
  auto inputs = std::make_shared<StatusInputs>();
  inputs->tick = std::chrono::seconds(1);
  inputs->experiments = {input(ndt, "")};
  StatusWriter writer(target.string());
  writer.submit(inputs, kAt);
  writer.flush();
  CHECK(writer.stats().failed_passes == 1);
  std::filesystem::remove(target);
  writer.submit(inputs, kAt + std::chrono::seconds(1));
  writer.flush();
  CHECK(writer.stats().failed_passes == 1);
  CHECK(read_json(target / "ndt.json")["name"] == "ndt");
}

TEST_CASE("the worker thread runs jobs in order and a newer job replaces one that waits",
          "[worker]") {
  std::vector<int> ran;  // written by the thread, read after flush()
  std::mutex gate;
  std::unique_lock hold(gate);
  WorkerThread worker;
  CHECK(worker.idle());
  // The first job blocks on the gate, so the next ones wait behind it.
  std::atomic<bool> started{false};
  worker.submit([&] {
    started = true;
    const std::lock_guard wait(gate);
    ran.push_back(1);
  });
  while (!started) std::this_thread::yield();
  worker.submit([&] { ran.push_back(2); });
  worker.submit([&] { ran.push_back(3); });
  CHECK_FALSE(worker.idle());
  hold.unlock();
  worker.flush();
  CHECK(worker.idle());
  CHECK(ran == std::vector<int>{1, 3});
  CHECK(worker.replaced() == 1);
}

TEST_CASE("the worker thread's destructor runs the job that waits", "[worker]") {
  int ran = 0;
  {
    WorkerThread worker;
    worker.submit([&] { ++ran; });
  }
  CHECK(ran == 1);
}
