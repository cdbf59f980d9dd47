#include "pods/quota_walker.hpp"

#include <algorithm>

namespace enforcer {

QuotaWalker::QuotaWalker() : thread_([this] { run(); }) {}

QuotaWalker::~QuotaWalker() {
  {
    const std::lock_guard lock(mutex_);
    stop_.store(true, std::memory_order_relaxed);
  }
  wake_.notify_all();
  thread_.join();
}

void QuotaWalker::request(Job job) {
  {
    const std::lock_guard lock(mutex_);
    if (std::find(queue_.begin(), queue_.end(), job) != queue_.end()) return;
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
}

std::vector<QuotaWalker::Outcome> QuotaWalker::finished() {
  const std::lock_guard lock(mutex_);
  std::vector<Outcome> out;
  out.swap(done_);
  return out;
}

bool QuotaWalker::busy() const {
  const std::lock_guard lock(mutex_);
  return walking_ || !queue_.empty();
}

void QuotaWalker::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_.load(std::memory_order_relaxed) || !queue_.empty(); });
    if (stop_.load(std::memory_order_relaxed)) return;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    walking_ = true;
    lock.unlock();
    Outcome outcome{job, std::nullopt, {}};
    auto tagged = set_project(job.dir, job.project_id, /*recursive=*/true, &stop_);
    if (tagged) {
      outcome.tagged = *tagged;
    } else {
      outcome.error = tagged.error().message;
    }
    lock.lock();
    walking_ = false;
    done_.push_back(std::move(outcome));
  }
}

}  // namespace enforcer
