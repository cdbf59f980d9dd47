// State files in `state_dir` (the overrides, the window snapshot): read whole with a size cap,
// replaced atomically and durably, and a file that cannot be used moved aside, never dropped.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "base/expected.hpp"

namespace enforcer {

using WallClock = std::chrono::system_clock;

// Writes `text` to `path` atomically and durably (temporary file, fsync, rename, fsync of the
// directory). An Error means the file still holds its old content (the temporary file is
// removed). Once the rename is done the change is made: a failure after it (opening or syncing
// the directory) is success with `not_durable` saying why a power loss may still bring the old
// file back.
struct WrittenFile {
  std::optional<std::string> not_durable;
};
struct AtomicWrite {
  // false: no fsync (a file in tmpfs, or one rewritten every second that no reboot needs): still
  // atomic, a reader sees the old file or the new one.
  bool durable = true;
  unsigned mode = 0600;  // the file's permissions, exactly (umask aside)
};
Expected<WrittenFile> write_file_atomic(const std::string& path, std::string_view text,
                                        AtomicWrite how = {});

// Reads a whole file (at most 64 MiB); `missing` is set, with an empty text, when it does not
// exist.
Expected<std::string> read_file(const std::string& path, bool& missing);
// Moves a bad file aside as <path>.bad-<unix seconds> (with "-N" added when that name is taken).
// Returns the new name or the reason it could not be moved.
Expected<std::string> set_aside(const std::string& path, WallClock::time_point now);
// <path>.<what>-<unix seconds>, with "-N" added when that name is taken: a free name beside
// `path` for a file kept aside.
std::string name_aside(const std::string& path, std::string_view what, WallClock::time_point now);

}  // namespace enforcer
