// Walks experiments' data directories on a thread of its own, one at a time, tagging every file
// and directory that lacks the experiment's project id (set_project in quota.hpp). A tree of
// millions of files then holds up neither the daemon's start (where systemd's start timeout would
// cut the walk short) nor its tick loop. The loop asks for walks and collects their outcomes once
// a tick; nothing else is shared with the thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pods/quota.hpp"

namespace enforcer {

class QuotaWalker {
 public:
  struct Job {
    std::string experiment;
    std::string dir;
    std::uint32_t project_id = 0;
    bool operator==(const Job&) const = default;
  };
  struct Outcome {
    Job job;
    std::optional<ProjectTagResult> tagged;  // empty: failed
    std::string error;
  };

  QuotaWalker();
  ~QuotaWalker();  // ends a walk under way early and waits for the thread
  QuotaWalker(const QuotaWalker&) = delete;
  QuotaWalker& operator=(const QuotaWalker&) = delete;

  // Queues a walk, unless the same one is queued already (one under way does not count: what
  // changed since it passed by is found by the next).
  void request(Job job);
  // The walks that ended since the last call, in the order they ended.
  std::vector<Outcome> finished();
  // Whether a walk is queued or under way.
  bool busy() const;

 private:
  void run();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool walking_ = false;
  std::vector<Outcome> done_;
  std::atomic<bool> stop_{false};
  std::thread thread_;  // last: started when everything above exists
};

}  // namespace enforcer
