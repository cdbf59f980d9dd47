#include "pods/cgroup_apply.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <libcgroup.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

#include "base/fd.hpp"
#include "base/text.hpp"

namespace enforcer {
namespace {

// libcgroup keeps values in fixed buffers of this size (CG_VALUE_MAX in libcgroup/iterators.h).
constexpr std::size_t kLibcgroupValueMax = 100;

std::string join_path(std::string_view dir, std::string_view file) {
  std::string out(dir);
  if (!out.empty() && out.back() != '/') out.push_back('/');
  out.append(file);
  return out;
}

// The directory is gone when stat says ENOENT (or ENOTDIR: a path component was replaced).
bool dir_gone(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) return !S_ISDIR(st.st_mode);
  return errno == ENOENT || errno == ENOTDIR || errno == ENODEV;
}

bool has_word(std::string_view text, std::string_view word) {
  for (std::string_view w : split_words(text)) {
    if (w == word) return true;
  }
  return false;
}

std::string strip_trailing_slashes(std::string_view s) {
  while (s.size() > 1 && s.back() == '/') s.remove_suffix(1);
  return std::string(s);
}

// cgroup_init() once per process; libcgroup keeps its mount table in globals.
bool libcgroup_init_once() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] { ok = cgroup_init() == 0; });
  return ok;
}

std::mutex& libcgroup_mutex() {
  static std::mutex m;
  return m;
}

CgroupFileResult file_result(const CgroupFileValue& value, CgroupFileStatus status, int e,
                             std::string error) {
  CgroupFileResult r;
  r.wanted = value;
  r.status = status;
  r.error_number = e;
  r.error = std::move(error);
  return r;
}

std::string missing_file_text(const std::string& cgroup_dir, std::string_view file) {
  const std::string controller = controller_of(file);
  if (controller.empty()) return fmt::format("{} does not exist", join_path(cgroup_dir, file));
  return fmt::format(
      "{} does not exist (is the {} controller enabled in the parent's cgroup.subtree_control?)",
      join_path(cgroup_dir, file), controller);
}

CgroupFileResult write_with_libcgroup(const std::string& relative, const std::string& cgroup_dir,
                                      const CgroupFileValue& value) {
  const std::string controller = controller_of(value.file);
  int rc = 0;
  int last_errno = 0;
  {
    const std::lock_guard lock(libcgroup_mutex());
    struct cgroup* cg = cgroup_new_cgroup(relative.c_str());
    if (cg == nullptr) {
      return file_result(value, CgroupFileStatus::kFailed, ENOMEM,
                         fmt::format("libcgroup: cgroup_new_cgroup(\"{}\") failed", relative));
    }
    struct cgroup_controller* ctl = cgroup_add_controller(cg, controller.c_str());
    if (ctl == nullptr) {
      rc = ECGINVAL;
    } else {
      rc = cgroup_add_value_string(ctl, value.file.c_str(), value.value.c_str());
      if (rc == 0) rc = cgroup_modify_cgroup(cg);
    }
    last_errno = cgroup_get_last_errno();
    cgroup_free(&cg);
  }
  if (rc == 0) return file_result(value, CgroupFileStatus::kWritten, 0, {});
  const std::string path = join_path(cgroup_dir, value.file);
  if (rc == ECGOTHER) {
    // The write itself failed; libcgroup kept its errno.
    if (last_errno == ENODEV || ((last_errno == ENOENT) && dir_gone(cgroup_dir))) {
      return file_result(value, CgroupFileStatus::kGone, last_errno,
                         fmt::format("{}: the cgroup is gone", cgroup_dir));
    }
    return file_result(
        value, CgroupFileStatus::kFailed, last_errno,
        fmt::format("writing \"{}\" to {}: {}", value.value, path, errno_text(last_errno)));
  }
  if (rc == ECGROUPVALUENOTEXIST || rc == ECGROUPNOTEXIST) {
    // libcgroup says this both for a missing directory and for a missing file (and its
    // cgroup_get_last_errno() is stale then): the directory tells them apart.
    if (dir_gone(cgroup_dir)) {
      return file_result(value, CgroupFileStatus::kGone, ENOENT,
                         fmt::format("{}: the cgroup is gone", cgroup_dir));
    }
    return file_result(value, CgroupFileStatus::kFailed, ENOENT,
                       missing_file_text(cgroup_dir, value.file));
  }
  return file_result(value, CgroupFileStatus::kFailed, last_errno,
                     fmt::format("writing \"{}\" to {}: libcgroup: {} ({})", value.value, path,
                                 cgroup_strerror(rc), rc));
}

}  // namespace

std::size_t CgroupApplyResult::written() const {
  return static_cast<std::size_t>(std::count_if(files.begin(), files.end(), [](const auto& f) {
    return f.status == CgroupFileStatus::kWritten;
  }));
}

std::size_t CgroupApplyResult::failed() const {
  return static_cast<std::size_t>(std::count_if(files.begin(), files.end(), [](const auto& f) {
    return f.status == CgroupFileStatus::kFailed;
  }));
}

std::string_view to_string(CgroupWriter writer) {
  return writer == CgroupWriter::kLibcgroup ? "libcgroup" : "direct";
}

std::string controller_of(std::string_view file) {
  const auto dot = file.find('.');
  if (dot == std::string_view::npos || dot == 0) return {};
  const std::string_view name = file.substr(0, dot);
  if (name == "cgroup") return {};
  return std::string(name);
}

std::vector<std::string> controllers_needed(const std::vector<CgroupFileValue>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    std::string c = controller_of(v.file);
    if (!c.empty() && std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  }
  return out;
}

std::vector<std::string> subtree_control_chain(std::string_view cgroup_root,
                                               std::string_view cgroup_dir) {
  const std::string root = strip_trailing_slashes(cgroup_root);
  const std::string dir = strip_trailing_slashes(cgroup_dir);
  std::vector<std::string> out;
  const std::string prefix = root == "/" ? root : root + "/";
  if (dir.size() <= prefix.size() || dir.compare(0, prefix.size(), prefix) != 0) return out;
  out.push_back(root);
  std::string_view rest = std::string_view(dir).substr(prefix.size());
  std::string current = root;
  while (true) {
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) break;  // the last component is cgroup_dir itself
    const std::string_view component = rest.substr(0, slash);
    rest.remove_prefix(slash + 1);
    if (component.empty()) continue;  // "a//b"
    current = join_path(current, component);
    out.push_back(current);
  }
  return out;
}

CgroupFileRead read_cgroup_file(const std::string& cgroup_dir, std::string_view file) {
  CgroupFileRead r;
  const std::string path = join_path(cgroup_dir, file);
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    r.error_number = errno;
    if (r.error_number == ENODEV || (r.error_number == ENOENT && dir_gone(cgroup_dir))) {
      r.status = CgroupFileStatus::kGone;
      r.error = fmt::format("{}: the cgroup is gone", cgroup_dir);
    } else if (r.error_number == ENOENT) {
      r.error = missing_file_text(cgroup_dir, file);
    } else {
      r.error = fmt::format("opening {}: {}", path, errno_text(r.error_number));
    }
    return r;
  }
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n > 0) {
      r.text.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    r.error_number = errno;
    if (r.error_number == ENODEV) {
      r.status = CgroupFileStatus::kGone;
      r.error = fmt::format("{}: the cgroup is gone", cgroup_dir);
    } else {
      r.error = fmt::format("reading {}: {}", path, errno_text(r.error_number));
    }
    r.text.clear();
    return r;
  }
  r.status = CgroupFileStatus::kWritten;
  return r;
}

CgroupFileResult write_cgroup_file(const std::string& cgroup_dir, const CgroupFileValue& value) {
  const std::string path = join_path(cgroup_dir, value.file);
  const Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  int e = 0;
  if (fd.get() < 0) {
    e = errno;
  } else {
    // A cgroup file takes its value in one write().
    ssize_t n;
    do {
      n = ::write(fd.get(), value.value.data(), value.value.size());
    } while (n < 0 && errno == EINTR);
    if (n == static_cast<ssize_t>(value.value.size())) {
      return file_result(value, CgroupFileStatus::kWritten, 0, {});
    }
    e = n < 0 ? errno : EIO;
  }
  if (e == ENODEV || (e == ENOENT && dir_gone(cgroup_dir))) {
    return file_result(value, CgroupFileStatus::kGone, e,
                       fmt::format("{}: the cgroup is gone", cgroup_dir));
  }
  if (e == ENOENT) {
    return file_result(value, CgroupFileStatus::kFailed, e,
                       missing_file_text(cgroup_dir, value.file));
  }
  return file_result(value, CgroupFileStatus::kFailed, e,
                     fmt::format("writing \"{}\" to {}: {}", value.value, path, errno_text(e)));
}

CgroupApplier::CgroupApplier(Options options) : options_(std::move(options)) {
  options_.cgroup_root = strip_trailing_slashes(options_.cgroup_root);
  if (options_.use_libcgroup) libcgroup_ok_ = libcgroup_init_once();
}

CgroupWriter CgroupApplier::writer_for(const std::string& cgroup_dir, std::string_view file,
                                       std::string_view value) const {
  if (!options_.use_libcgroup || !libcgroup_ok_) return CgroupWriter::kDirect;
  if (value.size() >= kLibcgroupValueMax) return CgroupWriter::kDirect;
  const std::string controller = controller_of(file);
  if (controller.empty()) return CgroupWriter::kDirect;
  std::string mount;
  {
    const std::lock_guard lock(libcgroup_mutex());
    char* mp = nullptr;
    if (cgroup_get_subsys_mount_point(controller.c_str(), &mp) != 0 || mp == nullptr) {
      std::free(mp);
      return CgroupWriter::kDirect;
    }
    mount = strip_trailing_slashes(mp);
    std::free(mp);
  }
  const std::string dir = strip_trailing_slashes(cgroup_dir);
  if (dir != mount && dir.compare(0, mount.size() + 1, mount + "/") != 0) {
    return CgroupWriter::kDirect;
  }
  struct statfs fs {};
  if (::statfs(mount.c_str(), &fs) != 0 || fs.f_type != CGROUP2_SUPER_MAGIC) {
    return CgroupWriter::kDirect;
  }
  return CgroupWriter::kLibcgroup;
}

std::vector<std::string> CgroupApplier::enable_controllers(
    const std::string& cgroup_dir, const std::vector<std::string>& controllers, bool* gone) {
  std::vector<std::string> errors;
  if (gone != nullptr) *gone = false;
  if (controllers.empty()) return errors;
  const CgroupFileRead own = read_cgroup_file(cgroup_dir, "cgroup.controllers");
  if (own.status == CgroupFileStatus::kGone) {
    if (gone != nullptr) *gone = true;
    return errors;
  }
  if (own.status != CgroupFileStatus::kWritten) {
    errors.push_back(own.error);
    return errors;
  }
  std::vector<std::string> missing;
  for (const auto& c : controllers) {
    if (!has_word(own.text, c)) missing.push_back(c);
  }
  if (missing.empty()) return errors;

  const std::vector<std::string> chain = subtree_control_chain(options_.cgroup_root, cgroup_dir);
  if (chain.empty()) {
    errors.push_back(fmt::format(
        "{} lacks the {} controller(s) and is not below cgroup_root {}: cannot enable them",
        cgroup_dir, fmt::join(missing, ", "), options_.cgroup_root));
    return errors;
  }
  for (const auto& level : chain) {
    const CgroupFileRead enabled = read_cgroup_file(level, "cgroup.subtree_control");
    if (enabled.status != CgroupFileStatus::kWritten) {
      if (enabled.status == CgroupFileStatus::kGone && dir_gone(cgroup_dir)) {
        if (gone != nullptr) *gone = true;
        return errors;
      }
      errors.push_back(enabled.error);
      return errors;
    }
    // Every controller this level lacks, in one write: the kernel checks them together, so a
    // refusal changes nothing. (One at a time, "+cpu" would succeed in a cgroup with processes
    // -- cpu is a threaded controller -- and make it a thread root, after which "+memory" fails
    // with EOPNOTSUPP instead of the EBUSY that explains the problem.)
    std::vector<std::string> add;
    for (const auto& c : missing) {
      if (!has_word(enabled.text, c)) add.push_back(c);
    }
    if (add.empty()) continue;
    std::string line;
    for (const auto& c : add) line += (line.empty() ? "+" : " +") + c;
    const CgroupFileResult w =
        write_cgroup_file(level, CgroupFileValue{"cgroup.subtree_control", line});
    if (w.status == CgroupFileStatus::kWritten) continue;
    if (w.status == CgroupFileStatus::kGone && dir_gone(cgroup_dir)) {
      if (gone != nullptr) *gone = true;
      return errors;
    }
    std::string why;
    switch (w.error_number) {
      case EBUSY:
        why = fmt::format(
            "{} has processes of its own (cgroup v2 gives controllers only to the children of "
            "a cgroup without processes: the \"no internal processes\" rule); move them into a "
            "leaf cgroup",
            level);
        break;
      case ENOENT:
        why = fmt::format(
            "not available there (its cgroup.controllers, \"{}\", lacks one: not enabled "
            "above, not in this kernel, or bound to cgroup v1)",
            std::string(trim(read_cgroup_file(level, "cgroup.controllers").text)));
        break;
      case EOPNOTSUPP:
        why =
            "the cgroup is threaded or a thread root (domain controllers such as memory and io "
            "cannot be enabled there)";
        break;
      default:
        why = errno_text(w.error_number);
        break;
    }
    errors.push_back(
        fmt::format("enabling {} for {}: writing \"{}\" to {}/cgroup.subtree_control failed: {}",
                    fmt::join(add, ", "), cgroup_dir, line, level, why));
    return errors;
  }
  return errors;
}

CgroupApplyResult CgroupApplier::apply(const std::string& cgroup_dir,
                                       const std::vector<CgroupFileValue>& values) {
  CgroupApplyResult result;
  bool gone = false;
  result.setup_errors = enable_controllers(cgroup_dir, controllers_needed(values), &gone);
  for (const auto& value : values) {
    if (gone) {
      result.files.push_back(file_result(value, CgroupFileStatus::kGone, ENOENT,
                                         fmt::format("{}: the cgroup is gone", cgroup_dir)));
      continue;
    }
    CgroupFileResult r;
    if (writer_for(cgroup_dir, value.file, value.value) == CgroupWriter::kLibcgroup) {
      const std::string dir = strip_trailing_slashes(cgroup_dir);
      char* mp = nullptr;
      std::string relative;
      {
        const std::lock_guard lock(libcgroup_mutex());
        if (cgroup_get_subsys_mount_point(controller_of(value.file).c_str(), &mp) == 0 &&
            mp != nullptr) {
          relative = dir.substr(std::min(dir.size(), strip_trailing_slashes(mp).size()));
        }
        std::free(mp);
      }
      // assign(1, '/'), not = "/": GCC 12 at -O3 inlines the literal's copy into an empty string
      // and warns of an overlap that cannot happen (-Werror=restrict, GCC bug 105651).
      if (relative.empty()) relative.assign(1, '/');
      r = write_with_libcgroup(relative, cgroup_dir, value);
    } else {
      r = write_cgroup_file(cgroup_dir, value);
    }
    if (r.status == CgroupFileStatus::kGone) gone = true;
    result.files.push_back(std::move(r));
  }
  result.gone = gone;
  return result;
}

CgroupCheckResult CgroupApplier::check(const std::string& cgroup_dir,
                                       const std::vector<CgroupFileValue>& values) const {
  CgroupCheckResult result;
  static const std::uint64_t page_size = [] {
    const long p = ::sysconf(_SC_PAGESIZE);
    return p > 0 ? static_cast<std::uint64_t>(p) : 4096;
  }();
  for (const auto& value : values) {
    const CgroupFileRead r = read_cgroup_file(cgroup_dir, value.file);
    if (r.status == CgroupFileStatus::kGone) {
      result.gone = true;
      result.drifted.clear();
      result.errors.clear();
      return result;
    }
    if (r.status != CgroupFileStatus::kWritten) {
      if (r.error_number == ENOENT) {
        result.drifted.push_back(CgroupDrift{value, {}, true});
      } else {
        result.errors.push_back(r.error);
      }
      continue;
    }
    if (!cgroup_value_matches(value, r.text, page_size)) {
      result.drifted.push_back(CgroupDrift{value, std::string(trim(r.text)), false});
    }
  }
  return result;
}

CgroupUsageResult read_usage(const std::string& cgroup_dir) {
  CgroupUsageResult result;
  // Reads one file; false when the cgroup is gone. An absent optional file leaves `text` empty
  // and `present` false.
  auto read = [&](std::string_view file, bool required, std::string& text, bool& present) {
    present = false;
    const CgroupFileRead r = read_cgroup_file(cgroup_dir, file);
    if (r.status == CgroupFileStatus::kGone) {
      result.gone = true;
      return false;
    }
    if (r.status != CgroupFileStatus::kWritten) {
      if (required || r.error_number != ENOENT) result.errors.push_back(r.error);
      return true;
    }
    text = r.text;
    present = true;
    return true;
  };
  auto bad = [&](std::string_view file, const Error& e) {
    result.errors.push_back(fmt::format("{}: {}", join_path(cgroup_dir, file), e.message));
  };

  std::string text;
  bool present = false;
  if (!read("cpu.stat", true, text, present)) return result;
  if (present) {
    auto cpu = parse_cpu_stat(text);
    if (cpu) {
      result.usage.cpu = *cpu;
    } else {
      bad("cpu.stat", cpu.error());
    }
  }
  if (!read("memory.current", false, text, present)) return result;
  if (present) {
    auto v = parse_memory_current(text);
    if (v) {
      result.usage.memory_current = *v;
    } else {
      bad("memory.current", v.error());
    }
  }
  if (!read("memory.max", false, text, present)) return result;
  if (present && trim(text) != "max") {
    auto v = parse_memory_current(text);
    if (v) {
      result.usage.memory_max = *v;
    } else {
      bad("memory.max", v.error());
    }
  }
  if (!read("memory.events", false, text, present)) return result;
  if (present) {
    auto v = parse_memory_events(text);
    if (v) {
      result.usage.memory_events = *v;
    } else {
      bad("memory.events", v.error());
    }
  }
  if (!read("io.stat", false, text, present)) return result;
  if (present) {
    auto v = parse_io_stat(text);
    if (v) {
      result.usage.io = std::move(*v);
    } else {
      bad("io.stat", v.error());
    }
  }
  return result;
}

}  // namespace enforcer
