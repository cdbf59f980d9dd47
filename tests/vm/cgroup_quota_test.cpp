// vm tier: lib/cgroup_apply and lib/quota against the guest's kernel (run by
// tests/vm/tests/cgroup_quota.sh, not a ctest test by itself).
//
//   cgroup_quota_test cgroup --root /sys/fs/cgroup --dir SCOPE --device /dev/loopN
//   cgroup_quota_test quota --dir /cache/data/x --project ID --limit BYTES --write BYTES
//                     [--expect EDQUOT|ENOSPC]
//
// Prints "ok - ..." / "FAIL - ..." lines and, for the script, "key=value" result lines; exits
// with the number of failures (capped at 100).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "pods/cgroup_apply.hpp"
#include "pods/cgroup_values.hpp"
#include "pods/quota.hpp"

using namespace enforcer;
namespace fs = std::filesystem;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s - %s\n", ok ? "ok  " : "FAIL", what.c_str());
  std::fflush(stdout);
  if (!ok) ++failures;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

std::map<std::string, std::string> parse_args(int argc, char** argv, int first) {
  std::map<std::string, std::string> out;
  for (int i = first; i + 1 < argc; i += 2) out[argv[i]] = argv[i + 1];
  return out;
}

void print_apply(const CgroupApplyResult& r) {
  for (const auto& e : r.setup_errors) std::printf("  setup error: %s\n", e.c_str());
  for (const auto& f : r.files) {
    if (f.status != CgroupFileStatus::kWritten) {
      std::printf("  %s %s: %s\n", f.status == CgroupFileStatus::kGone ? "gone" : "failed",
                  f.wanted.file.c_str(), f.error.c_str());
    }
  }
}

std::vector<CgroupFileValue> values_for(double cores, std::uint64_t memory,
                                        const DeviceConfig& device) {
  Allocation a;
  a.cpu_cores = cores;
  a.memory_bytes = memory;
  a.disk_io_fraction = 0.10;
  auto v = cgroup_values(a, {device});
  if (!v) {
    check(false, "cgroup_values: " + v.error().message);
    std::exit(1);
  }
  return *v;
}

int run_cgroup(const std::map<std::string, std::string>& args) {
  const std::string root = args.at("--root");
  const std::string dir = args.at("--dir");
  const std::string device_path = args.at("--device");
  const std::string parent = fs::path(dir).parent_path().string();

  struct stat st {};
  if (::stat(device_path.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) {
    check(false, device_path + " is a block device");
    return 1;
  }
  DeviceConfig device;
  device.path = device_path;
  device.read_bps = 100'000'000;
  device.write_bps = 50'000'000;
  device.read_iops = 1000;
  device.write_iops = 500;
  device.resolved = true;
  device.major = major(st.st_rdev);
  device.minor = minor(st.st_rdev);

  CgroupApplier applier({root, true});
  const auto writer = applier.writer_for(dir, "cpu.max", "100000 100000");
  std::printf("writer=%s\n", std::string(to_string(writer)).c_str());
  check(writer == CgroupWriter::kLibcgroup, "cpu.max of the scope is written through libcgroup");

  // 1.0 core, 256 MiB, 10 % of the device.
  const std::uint64_t mem = 256ULL << 20;
  auto values = values_for(1.0, mem, device);
  auto r = applier.apply(dir, values);
  print_apply(r);
  check(r.ok() && r.written() == values.size(), "apply 1.0 core / 256 MiB / io.max: all written");
  for (const auto& v : values) {
    std::printf("  %s = %s\n", v.file.c_str(), slurp(dir + "/" + v.file).c_str());
  }
  check(slurp(dir + "/cpu.max") == "100000 100000", "cpu.max is 100000 100000");
  check(slurp(dir + "/memory.max") == std::to_string(mem), "memory.max is 268435456");
  check(slurp(dir + "/memory.high") == kMemoryHigh,
        "memory.high is max (no throttling below the limit)");
  check(slurp(dir + "/memory.swap.max") == "0", "memory.swap.max is 0");
  const std::string io_line = fmt::format("{}:{} rbps=10000000 wbps=5000000 riops=100 wiops=50",
                                          device.major, device.minor);
  check(slurp(dir + "/io.max").find(io_line) != std::string::npos, "io.max has " + io_line);
  auto c = applier.check(dir, values);
  check(!c.gone && c.drifted.empty() && c.errors.empty(), "check after apply: no drift");

  // 0.5 core.
  values = values_for(0.5, mem, device);
  r = applier.apply(dir, values);
  print_apply(r);
  check(r.ok(), "apply 0.5 core");
  check(slurp(dir + "/cpu.max") == "50000 100000", "cpu.max is 50000 100000");

  // Drift: rewritten by hand, found, restored.
  check(write_cgroup_file(dir, {"cpu.max", "max 100000"}).status == CgroupFileStatus::kWritten,
        "cpu.max rewritten by hand to 'max 100000'");
  check(write_cgroup_file(dir, {"memory.max", "max"}).status == CgroupFileStatus::kWritten,
        "memory.max rewritten by hand to 'max'");
  c = applier.check(dir, values);
  for (const auto& d : c.drifted) {
    std::printf("  drift: %s is '%s', wanted '%s'\n", d.wanted.file.c_str(), d.found.c_str(),
                d.wanted.value.c_str());
  }
  check(c.drifted.size() == 2 && c.drifted[0].wanted.file == "cpu.max" &&
            c.drifted[1].wanted.file == "memory.max",
        "check finds cpu.max and memory.max drifted");
  std::vector<CgroupFileValue> redo;
  for (const auto& d : c.drifted) redo.push_back(d.wanted);
  r = applier.apply(dir, redo);
  check(r.ok(), "the drifted files rewritten");
  std::printf("corrections=%zu\n", r.written());
  c = applier.check(dir, values);
  check(c.drifted.empty() && slurp(dir + "/cpu.max") == "50000 100000", "no drift after repair");

  // Usage.
  const auto u = read_usage(dir);
  check(u.ok() && u.usage.memory_max == mem && u.usage.memory_events && u.usage.io,
        "read_usage: cpu.stat, memory.*, io.stat read");
  std::printf(
      "usage cpu_usec=%llu memory_current=%llu memory_max=%llu oom_kill=%llu\n",
      static_cast<unsigned long long>(u.usage.cpu.usage_usec),
      static_cast<unsigned long long>(u.usage.memory_current.value_or(0)),
      static_cast<unsigned long long>(u.usage.memory_max.value_or(0)),
      static_cast<unsigned long long>(u.usage.memory_events ? u.usage.memory_events->oom_kill : 0));
  for (const auto& e : u.errors) std::printf("  usage error: %s\n", e.c_str());

  // Controllers enabled where missing: a new slice without subtree_control.
  const std::string extra = parent + "/enforcer-extra.slice";
  const std::string extra_leaf = extra + "/leaf.scope";
  fs::create_directories(extra_leaf);
  check(slurp(extra + "/cgroup.subtree_control").empty(), "a new slice enables nothing");
  r = applier.apply(extra_leaf, values);
  print_apply(r);
  check(r.ok(), "apply to a leaf below it enables the controllers and writes");
  std::printf("  %s/cgroup.subtree_control = %s\n", extra.c_str(),
              slurp(extra + "/cgroup.subtree_control").c_str());
  check(slurp(extra_leaf + "/cpu.max") == "50000 100000", "the leaf's cpu.max written");
  ::rmdir(extra_leaf.c_str());
  ::rmdir(extra.c_str());

  // A slice with a process of its own cannot give its children controllers (EBUSY).
  const std::string busy = parent + "/enforcer-busy.slice";
  const std::string busy_leaf = busy + "/leaf.scope";
  fs::create_directories(busy_leaf);
  const pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  check(write_cgroup_file(busy, {"cgroup.procs", std::to_string(child)}).status ==
            CgroupFileStatus::kWritten,
        "a process placed in the busy slice itself");
  r = applier.apply(busy_leaf, values);
  for (const auto& e : r.setup_errors) std::printf("  setup error: %s\n", e.c_str());
  check(r.setup_errors.size() == 1 &&
            r.setup_errors[0].find("no internal processes") != std::string::npos,
        "enabling below a cgroup with processes: one clear error (EBUSY)");
  check(r.failed() == values.size(), "and the files, which do not exist, failed (not gone)");
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  for (int i = 0; i < 50 && ::rmdir(busy_leaf.c_str()) != 0; ++i) ::usleep(20000);
  for (int i = 0; i < 50 && ::rmdir(busy.c_str()) != 0; ++i) ::usleep(20000);

  // Gone: a removed cgroup, then cgroups removed while being applied.
  const std::size_t fds_before = open_fds();
  const std::string gone = parent + "/enforcer-gone.scope";
  fs::create_directories(gone);
  ::rmdir(gone.c_str());
  r = applier.apply(gone, values);
  check(
      r.gone && r.files.size() == values.size() && r.files.back().status == CgroupFileStatus::kGone,
      "apply to a removed cgroup: gone");
  check(applier.check(gone, values).gone, "check of a removed cgroup: gone");
  check(read_usage(gone).gone, "read_usage of a removed cgroup: gone");

  int races_gone = 0, races_ok = 0, races_bad = 0;
  std::mt19937 rng(42);
  for (int i = 0; i < 40; ++i) {
    fs::create_directories(gone);
    std::atomic<bool> go{false};
    const int delay_us = static_cast<int>(rng() % 3000);
    std::thread remover([&] {
      while (!go.load()) {
      }
      ::usleep(delay_us);
      ::rmdir(gone.c_str());
    });
    go = true;
    const auto rr = applier.apply(gone, values);
    remover.join();
    ::rmdir(gone.c_str());
    // Consistent: either everything written, or written up to a point and gone from there on.
    bool seen_gone = false, consistent = rr.setup_errors.empty();
    for (const auto& f : rr.files) {
      if (f.status == CgroupFileStatus::kGone) seen_gone = true;
      if (f.status == CgroupFileStatus::kFailed) consistent = false;
      if (seen_gone && f.status != CgroupFileStatus::kGone) consistent = false;
    }
    if (!consistent) {
      ++races_bad;
      print_apply(rr);
    } else if (rr.gone) {
      ++races_gone;
    } else {
      ++races_ok;
    }
  }
  std::printf("race: %d gone, %d completed, %d inconsistent\n", races_gone, races_ok, races_bad);
  check(races_bad == 0 && races_gone > 0, "cgroups removed while applying: gone, never failed");
  check(open_fds() == fds_before, "no file descriptor leaked");
  return failures;
}

int run_quota(const std::map<std::string, std::string>& args) {
  const std::string dir = args.at("--dir");
  const auto project = static_cast<std::uint32_t>(std::stoul(args.at("--project")));
  const std::uint64_t limit = std::stoull(args.at("--limit"));
  const std::uint64_t to_write = std::stoull(args.at("--write"));

  fs::create_directories(dir + "/old/sub");
  {
    std::ofstream old(dir + "/old/sub/file");  // there before the quota: tagged by the walk
    old << std::string(1 << 20, 'x');
  }
  const auto a = apply_project_quota(dir, project, limit);
  if (!a) {
    check(false, "apply_project_quota: " + a.error().message);
    return failures;
  }
  std::printf("fs=%s device=%s mount=%s tagged=%llu skipped=%llu\n", a->fs.fs_type.c_str(),
              a->fs.device.c_str(), a->fs.mount_point.c_str(),
              static_cast<unsigned long long>(a->tagged.changed),
              static_cast<unsigned long long>(a->tagged.skipped));
  check(a->quota.hard_limit_bytes == limit && a->quota.soft_limit_bytes == limit,
        "hard = soft = limit after apply");
  check(a->tagged.changed >= 4, "the directory and what was in it tagged (dir, old, sub, file)");
  const auto attr = get_project(dir + "/old/sub/file");
  check(attr && attr->project_id == project, "a file from before carries the project id");
  const auto again = apply_project_quota(dir, project, limit);
  check(again && again->tagged.changed == 0, "a second apply changes nothing");

  // Write past the limit.
  const std::string big = dir + "/big";
  const int fd = ::open(big.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  std::uint64_t written = 0;
  int error = 0;
  const std::string chunk(1 << 20, 'y');
  while (written < to_write) {
    const ssize_t n = ::write(fd, chunk.data(), chunk.size());
    if (n < 0) {
      error = errno;
      break;
    }
    written += static_cast<std::uint64_t>(n);
    if (static_cast<std::size_t>(n) < chunk.size()) {
      // A short write at the limit; the next one says why.
      continue;
    }
  }
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && error == 0) error = errno;
  std::printf("wrote=%llu error=%s\n", static_cast<unsigned long long>(written),
              error != 0 ? std::strerror(error) : "none");
  // ext4 reports a project quota's limit as EDQUOT; XFS as ENOSPC (it treats a project like a
  // filesystem of its own), so there the filesystem must have room left for it to be the quota.
  const bool want_enospc = args.count("--expect") != 0 && args.at("--expect") == "ENOSPC";
  // statfs of a directory with a project id shows the project's limit on XFS (df inside it sees
  // the quota); the mount point (project 0) shows the filesystem.
  auto free_of = [](const std::string& path, unsigned long long* size) {
    struct statvfs sv {};
    if (::statvfs(path.c_str(), &sv) != 0) return 0ULL;
    if (size != nullptr) *size = static_cast<unsigned long long>(sv.f_blocks) * sv.f_frsize;
    return static_cast<unsigned long long>(sv.f_bavail) * sv.f_frsize;
  };
  unsigned long long dir_size = 0;
  const unsigned long long dir_free = free_of(dir, &dir_size);
  const unsigned long long free_bytes = free_of(a->fs.mount_point, nullptr);
  std::printf("statvfs %s: size=%llu free=%llu; %s: free=%llu\n", dir.c_str(), dir_size, dir_free,
              a->fs.mount_point.c_str(), free_bytes);
  check(error == (want_enospc ? ENOSPC : EDQUOT), "writing " + std::to_string(to_write) +
                                                      " bytes fails with " +
                                                      (want_enospc ? "ENOSPC" : "EDQUOT"));
  check(written < to_write && free_bytes > to_write, "the quota stopped it, not a full filesystem");
  const auto battr = get_project(big);
  check(battr && battr->project_id == project, "a new file inherits the project id");

  const auto q = get_project_quota(a->fs, project);
  if (!q) {
    check(false, "get_project_quota: " + q.error().message);
    return failures;
  }
  std::printf("quota project=%u used_bytes=%llu hard_bytes=%llu soft_bytes=%llu inodes=%llu\n",
              project, static_cast<unsigned long long>(q->used_bytes),
              static_cast<unsigned long long>(q->hard_limit_bytes),
              static_cast<unsigned long long>(q->soft_limit_bytes),
              static_cast<unsigned long long>(q->used_inodes));
  check(q->used_bytes <= limit && q->used_bytes + (1 << 20) >= limit,
        "usage is at the limit (within 1 MiB)");

  // An unsupported filesystem names itself.
  const auto bad = apply_project_quota("/run", project, limit);
  if (!bad) std::printf("  /run: %s\n", bad.error().message.c_str());
  check(!bad && bad.error().message.find("tmpfs") != std::string::npos,
        "a quota on tmpfs is an error naming the filesystem");
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s cgroup|quota --key value...\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const auto args = parse_args(argc, argv, 2);
  int f = 0;
  try {
    if (mode == "cgroup") {
      f = run_cgroup(args);
    } else if (mode == "quota") {
      f = run_quota(args);
    } else {
      std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
      return 2;
    }
  } catch (const std::exception& e) {
    std::printf("FAIL - exception: %s\n", e.what());
    return 100;
  }
  std::printf("%s: %d failure(s)\n", mode.c_str(), f);
  return f > 100 ? 100 : f;
}
