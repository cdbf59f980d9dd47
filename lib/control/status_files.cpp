#include "control/status_files.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <functional>
#include <system_error>

#include "base/state_file.hpp"

namespace enforcer {

namespace {

constexpr std::string_view kSuffix = ".json";

std::string file_of(const std::string& dir, const std::string& name) {
  return fmt::format("{}/{}{}", dir, name, kSuffix);
}

}  // namespace

void StatusFiles::begin(std::int64_t tick_ns, std::chrono::system_clock::time_point now) {
  tick_ns_ = tick_ns;
  updated_ns_ =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  seen_.clear();
  error_.reset();
}

void StatusFiles::put(const std::string& name, const nlohmann::json& status) {
  namespace fs = std::filesystem;
  seen_.insert(name);
  if (error_ && !dir_ready_) return;  // no directory: the next pass tries again
  if (!dir_ready_) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) {
      error_ = Error{fmt::format("cannot create status_dir {}: {}", dir_, ec.message())};
      return;
    }
    // Readable by the experiments' pods, which mount it read-only.
    fs::permissions(dir_,
                    fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                        fs::perms::others_read | fs::perms::others_exec,
                    ec);
    dir_ready_ = true;
  }
  const std::size_t hash = std::hash<std::string>{}(status.dump());
  if (auto it = written_.find(name);
      it != written_.end() && it->second.hash == hash &&
      updated_ns_ - it->second.updated_ns < kStatusFileRefresh.count()) {
    return;
  }
  nlohmann::json file = status;
  file["format"] = kStatusFileFormat;
  file["updated_unix_ns"] = updated_ns_;
  file["tick_ns"] = tick_ns_;
  // Readable by the pod (another user); rewritten every second, so never worth an fsync.
  if (auto r = write_file_atomic(file_of(dir_, name), file.dump() + "\n",
                                 AtomicWrite{.durable = false, .mode = 0644});
      !r) {
    dir_ready_ = false;  // it may have been removed under us: made again next time
    if (!error_) error_ = Error{fmt::format("status file of {}: {}", name, r.error().message)};
    return;
  }
  written_[name] = Written{hash, updated_ns_};
}

Expected<void> StatusFiles::end() {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!swept_ && dir_ready_) {
    // Files a previous daemon wrote for experiments no longer configured.
    for (const auto& entry : fs::directory_iterator(dir_, ec)) {
      const std::string file = entry.path().filename().string();
      if (file.size() <= kSuffix.size() || !file.ends_with(kSuffix)) continue;
      if (!seen_.count(file.substr(0, file.size() - kSuffix.size()))) fs::remove(entry.path(), ec);
    }
    swept_ = true;
  }
  for (auto it = written_.begin(); it != written_.end();) {
    if (seen_.count(it->first)) {
      ++it;
      continue;
    }
    fs::remove(file_of(dir_, it->first), ec);
    it = written_.erase(it);
  }
  if (error_) return *error_;
  return {};
}

}  // namespace enforcer
