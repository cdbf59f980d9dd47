#include "control/audit_log.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "base/fd.hpp"
#include "base/time_text.hpp"

namespace enforcer {
namespace {

Error audit_error(const std::string& path, std::string_view what, int err) {
  return Error{fmt::format("audit log {}: {}: {}", path, what, std::strerror(err))};
}

}  // namespace

Expected<void> AuditLog::append(const AuditEntry& entry) {
  std::string line;
  try {
    nlohmann::json j = nlohmann::json::object();
    j["time"] = rfc3339_utc(std::time(nullptr));
    j["uid"] = entry.uid;
    j["pid"] = entry.pid;
    j["command"] = entry.command;
    j["experiment"] = entry.experiment;
    j["change"] = entry.change;
    j["reason"] = entry.reason;
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const std::exception& e) {
    return Error{fmt::format("audit log {}: cannot format the entry: {}", path_, e.what())};
  }
  line += '\n';

  Fd fd(::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return audit_error(path_, "open", errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return audit_error(path_, "stat", errno);
  auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > 0 && size + line.size() > max_bytes_) {
    fd.reset();
    const std::string old = path_ + ".1";
    if (::rename(path_.c_str(), old.c_str()) != 0) {
      return audit_error(path_, fmt::format("rotate to {}", old), errno);
    }
    fd.reset(::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) return audit_error(path_, "open after rotation", errno);
    size = 0;
  }

  // A line that could not be written whole is cut off again, so the next one starts on a line
  // of its own (there is one writer: the daemon).
  auto fail = [&](std::string_view what, int err) -> Expected<void> {
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
      // Nothing more to do: the error below is what matters.
    }
    return audit_error(path_, what, err);
  };

  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd.get(), line.data() + done, line.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write", errno);
    }
    if (n == 0) return fail("write", EIO);
    done += static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd.get()) != 0) return audit_error(path_, "fdatasync", errno);
  if (fd.close() != 0) return audit_error(path_, "close", errno);
  return {};
}

}  // namespace enforcer
