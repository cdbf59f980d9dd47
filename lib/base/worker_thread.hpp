// A thread of its own for work the daemon's loop must not wait for (writing state files): jobs
// run one at a time, in the order given; a job given while another still waits replaces it, since
// every job is a whole pass (a snapshot of every window, every status file) and the newest one
// makes the waiting one useless.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace enforcer {

class WorkerThread {
 public:
  WorkerThread();
  // Runs the job that waits, if any, then stops the thread.
  ~WorkerThread();
  WorkerThread(const WorkerThread&) = delete;
  WorkerThread& operator=(const WorkerThread&) = delete;

  // True while nothing runs or waits: the loop prepares a new job only then, so that at most one
  // job's data waits beside the one running.
  bool idle() const;
  // Queues `job`; one still waiting (not begun) is dropped and counted in replaced().
  void submit(std::function<void()> job);
  // Returns once every job given so far has run.
  void flush();
  std::uint64_t replaced() const;

 private:
  void run();

  mutable std::mutex mutex_;
  std::condition_variable wake_;  // the thread: a job waits, or stop
  std::condition_variable done_;  // flush(): the thread went idle
  std::function<void()> pending_;
  bool busy_ = false;  // a job runs
  bool stop_ = false;
  std::uint64_t replaced_ = 0;
  std::thread thread_;  // last: starts once every member above exists
};

}  // namespace enforcer
