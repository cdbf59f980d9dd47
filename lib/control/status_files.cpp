#include "control/status_files.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <set>
#include <system_error>

#include "base/state_file.hpp"

namespace enforcer {

namespace {

constexpr std::string_view kSuffix = ".json";

std::string file_of(const std::string& dir, const std::string& name) {
  return fmt::format("{}/{}{}", dir, name, kSuffix);
}

}  // namespace

Expected<void> StatusFiles::write(const std::vector<ExperimentStatus>& experiments,
                                  std::int64_t tick_ns, std::chrono::system_clock::time_point now) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!dir_ready_) {
    fs::create_directories(dir_, ec);
    if (ec) return Error{fmt::format("cannot create status_dir {}: {}", dir_, ec.message())};
    // Readable by the experiments' pods, which mount it read-only.
    fs::permissions(dir_,
                    fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                        fs::perms::others_read | fs::perms::others_exec,
                    ec);
    dir_ready_ = true;
  }
  const auto updated_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  std::optional<Error> first;
  std::set<std::string> names;
  for (const ExperimentStatus& x : experiments) {
    names.insert(x.name);
    std::string dump = x.status.dump();
    if (auto it = written_.find(x.name); it != written_.end() && it->second == dump) continue;
    nlohmann::json file = x.status;
    file["format"] = kStatusFileFormat;
    file["updated_unix_ns"] = updated_ns;
    file["tick_ns"] = tick_ns;
    if (auto r = write_file_atomic(file_of(dir_, x.name), file.dump() + "\n"); !r) {
      // The directory may have been removed under us: made again next time.
      dir_ready_ = false;
      if (!first) first = Error{fmt::format("status file of {}: {}", x.name, r.error().message)};
      continue;
    }
    written_[x.name] = std::move(dump);
  }
  if (!swept_) {
    // Files a previous daemon wrote for experiments no longer configured: the directory is
    // enforcer's, so every <name>.json in it is one.
    for (const auto& entry : fs::directory_iterator(dir_, ec)) {
      const std::string file = entry.path().filename().string();
      if (file.size() <= kSuffix.size() || !file.ends_with(kSuffix)) continue;
      if (!names.count(file.substr(0, file.size() - kSuffix.size()))) fs::remove(entry.path(), ec);
    }
    swept_ = true;
  }
  for (auto it = written_.begin(); it != written_.end();) {
    if (names.count(it->first)) {
      ++it;
      continue;
    }
    fs::remove(file_of(dir_, it->first), ec);
    it = written_.erase(it);
  }
  if (first) return *first;
  return {};
}

}  // namespace enforcer
