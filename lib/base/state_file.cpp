#include "base/state_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "base/fd.hpp"
#include "base/text.hpp"
#include "base/time_text.hpp"

namespace enforcer {
namespace {

// State files hold at most a few thousand small entries; anything far larger is not ours.
constexpr std::size_t kMaxFileBytes = 64 << 20;

}  // namespace

// Reads a whole file; fails on any error and on files beyond kMaxFileBytes.
Expected<std::string> read_file(const std::string& path, bool& missing) {
  missing = false;
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    if (err == ENOENT) {
      missing = true;
      return std::string{};
    }
    return errno_error(err, "cannot open it");
  }
  std::string out;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, "cannot read it");
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > kMaxFileBytes) {
      return Error{fmt::format("it is larger than {} bytes", kMaxFileBytes)};
    }
  }
  return out;
}

// <path>.<what>-<unix seconds>, with "-N" added when that name is taken.
std::string name_aside(const std::string& path, std::string_view what, WallClock::time_point now) {
  const std::string base = fmt::format("{}.{}-{}", path, what, to_unix_seconds(now));
  std::string target = base;
  for (int n = 1; n < 100; ++n) {
    struct stat st;
    if (::lstat(target.c_str(), &st) != 0) break;  // free (or the write will say why not)
    target = fmt::format("{}-{}", base, n);
  }
  return target;
}

Expected<std::string> set_aside(const std::string& path, WallClock::time_point now) {
  const std::string target = name_aside(path, "bad", now);
  if (::rename(path.c_str(), target.c_str()) != 0) {
    return errno_error(errno, "could not move it to {}", target);
  }
  return target;
}

Expected<WrittenFile> write_file_atomic(const std::string& path, std::string_view text,
                                        AtomicWrite how) {
  const std::string tmp = fmt::format("{}.tmp-{}", path, ::getpid());
  auto fail = [&](std::string_view what, int err, bool unlink_tmp) -> Expected<WrittenFile> {
    if (unlink_tmp) ::unlink(tmp.c_str());
    return errno_error(err, "cannot write {}: {}", path, what);
  };
  auto not_durable = [&](std::string_view what, int err) -> Expected<WrittenFile> {
    return WrittenFile{fmt::format("{} was written but may not survive a power loss: {}: {}", path,
                                   what, errno_text(err))};
  };

  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return fail(fmt::format("create {}", tmp), errno, false);
  if (how.mode != 0600 && ::fchmod(fd.get(), how.mode) != 0) {
    return fail(fmt::format("chmod {}", tmp), errno, true);
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(fmt::format("write {}", tmp), errno, true);
    }
    if (n == 0) return fail(fmt::format("write {}", tmp), EIO, true);
    done += static_cast<std::size_t>(n);
  }
  if (how.durable && ::fsync(fd.get()) != 0) return fail(fmt::format("fsync {}", tmp), errno, true);
  if (fd.close() != 0) return fail(fmt::format("close {}", tmp), errno, true);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(fmt::format("rename {} to {}", tmp, path), errno, true);
  }
  if (!how.durable) return WrittenFile{};

  const auto slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? std::string(".") : (slash == 0 ? "/" : path.substr(0, slash));
  const Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd) return not_durable(fmt::format("open directory {}", dir), errno);
  if (::fsync(dfd.get()) != 0) return not_durable(fmt::format("fsync directory {}", dir), errno);
  return WrittenFile{};
}

}  // namespace enforcer
