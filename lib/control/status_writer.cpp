#include "control/status_writer.hpp"

#include <utility>

#include "base/log.hpp"
#include "control/control_status.hpp"

namespace enforcer {

void StatusWriter::submit(std::shared_ptr<const StatusInputs> inputs,
                          std::chrono::system_clock::time_point now) {
  worker_.submit([this, inputs = std::move(inputs), now] { pass(*inputs, now); });
}

StatusWriter::Stats StatusWriter::stats() const {
  const std::lock_guard lock(mutex_);
  return stats_;
}

void StatusWriter::pass(const StatusInputs& inputs, std::chrono::system_clock::time_point now) {
  const auto start = std::chrono::steady_clock::now();
  files_.begin(inputs.tick.count(), now);
  for (const StatusInput& x : inputs.experiments) {
    files_.put(x.name, experiment_status(*x.state, x.effective, inputs.tick, x.pod, x.overrides));
  }
  const auto r = files_.end();
  std::uint64_t failed = 0;
  {
    const std::lock_guard lock(mutex_);
    ++stats_.passes;
    if (!r) failed = ++stats_.failed_passes;
    stats_.last_duration = std::chrono::steady_clock::now() - start;
  }
  // The first failure and every 60th after it: a full disk fails every pass, a second apart.
  if (!r && failed % 60 == 1) log_error("writing status files: {}", r.error().message);
}

}  // namespace enforcer
