#include "base/worker_thread.hpp"

#include <utility>

namespace enforcer {

WorkerThread::WorkerThread() : thread_([this] { run(); }) {}

WorkerThread::~WorkerThread() {
  {
    const std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

bool WorkerThread::idle() const {
  const std::lock_guard lock(mutex_);
  return !busy_ && !pending_;
}

void WorkerThread::submit(std::function<void()> job) {
  std::function<void()> dropped;  // destroyed outside the lock: it may own much
  {
    const std::lock_guard lock(mutex_);
    if (pending_) {
      ++replaced_;
      dropped = std::move(pending_);
    }
    pending_ = std::move(job);
  }
  wake_.notify_one();
}

void WorkerThread::flush() {
  std::unique_lock lock(mutex_);
  done_.wait(lock, [this] { return !busy_ && !pending_; });
}

std::uint64_t WorkerThread::replaced() const {
  const std::lock_guard lock(mutex_);
  return replaced_;
}

void WorkerThread::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || pending_; });
    if (!pending_) return;  // stop_, and nothing waits
    std::function<void()> job = std::move(pending_);
    pending_ = nullptr;
    busy_ = true;
    lock.unlock();
    job();
    job = nullptr;  // its data goes before the thread reports idle
    lock.lock();
    busy_ = false;
    if (!pending_) done_.notify_all();
  }
}

}  // namespace enforcer
