// Applying cgroup file values, drift checks and usage reading on a plain directory tree (no
// cgroup2, no root: the writer falls back to open/write there), and the pure helpers of the
// project quota code (mountinfo, units).
#include <dirent.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "pods/cgroup_apply.hpp"
#include "pods/quota.hpp"

using namespace enforcer;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

class TempTree {
 public:
  TempTree() {
    std::string tmpl = (fs::temp_directory_path() / "enforcer-cgapply-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    root_ = tmpl;
  }
  ~TempTree() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

void put(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  REQUIRE(out);
  out << text;
}

std::string get(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// root/a/b/leaf with every interface file a plain file.
std::string make_cgroup(const std::string& root, const std::string& controllers = "cpu memory io") {
  const std::string leaf = root + "/a.slice/b.slice/leaf.scope";
  fs::create_directories(leaf);
  for (const auto& dir : {root, root + "/a.slice", root + "/a.slice/b.slice", leaf}) {
    put(dir + "/cgroup.controllers", "cpuset cpu io memory pids\n");
    put(dir + "/cgroup.subtree_control", "cpu memory io\n");
  }
  put(leaf + "/cgroup.controllers", controllers + "\n");
  for (const char* f : {"cpu.max", "memory.max", "memory.high", "memory.swap.max", "io.max"}) {
    put(leaf + "/" + f, "");  // empty: a plain file is not truncated by a write
  }
  return leaf;
}

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

const std::vector<CgroupFileValue> kValues = {
    {"cpu.max", "100000 100000"},
    {"memory.max", "268435456"},
    {"memory.high", "251658240"},
    {"memory.swap.max", "0"},
    {"io.max", "7:0 rbps=1000000 wbps=2000000 riops=max wiops=max"},
};

}  // namespace

TEST_CASE("controller_of and controllers_needed", "[cgroup_apply]") {
  CHECK(controller_of("cpu.max") == "cpu");
  CHECK(controller_of("memory.swap.max") == "memory");
  CHECK(controller_of("io.max") == "io");
  CHECK(controller_of("cgroup.subtree_control").empty());
  CHECK(controller_of("noext").empty());
  CHECK(controller_of(".hidden").empty());
  CHECK(controllers_needed(kValues) == std::vector<std::string>{"cpu", "memory", "io"});
  CHECK(controllers_needed({}).empty());
}

TEST_CASE("subtree_control_chain lists the root and every ancestor", "[cgroup_apply]") {
  using V = std::vector<std::string>;
  CHECK(subtree_control_chain("/sys/fs/cgroup", "/sys/fs/cgroup/a/b/c") ==
        V{"/sys/fs/cgroup", "/sys/fs/cgroup/a", "/sys/fs/cgroup/a/b"});
  CHECK(subtree_control_chain("/sys/fs/cgroup/", "/sys/fs/cgroup/a/") == V{"/sys/fs/cgroup"});
  CHECK(subtree_control_chain("/sys/fs/cgroup", "/sys/fs/cgroup//a//b") ==
        V{"/sys/fs/cgroup", "/sys/fs/cgroup/a"});
  CHECK(subtree_control_chain("/sys/fs/cgroup", "/sys/fs/cgroup").empty());
  CHECK(subtree_control_chain("/sys/fs/cgroup", "/sys/fs/cgroupX/a").empty());
  CHECK(subtree_control_chain("/sys/fs/cgroup", "/elsewhere/a").empty());
}

TEST_CASE("apply writes every value in order, directly on a plain tree", "[cgroup_apply]") {
  TempTree t;
  const std::string leaf = make_cgroup(t.root());
  CgroupApplier applier({t.root(), true});
  CHECK(applier.writer_for(leaf, "cpu.max", "1 2") == CgroupWriter::kDirect);
  const auto r = applier.apply(leaf, kValues);
  CHECK(r.ok());
  CHECK_FALSE(r.gone);
  CHECK(r.setup_errors.empty());
  REQUIRE(r.files.size() == kValues.size());
  for (std::size_t i = 0; i < kValues.size(); ++i) {
    CHECK(r.files[i].wanted == kValues[i]);
    CHECK(r.files[i].status == CgroupFileStatus::kWritten);
    CHECK(get(leaf + "/" + kValues[i].file) == kValues[i].value);
  }
  CHECK(r.written() == kValues.size());
  CHECK(r.failed() == 0);

  SECTION("check finds nothing, then the file rewritten by hand") {
    auto c = applier.check(leaf, kValues);
    CHECK_FALSE(c.gone);
    CHECK(c.drifted.empty());
    CHECK(c.errors.empty());
    put(leaf + "/cpu.max", "200000 100000\n");
    put(leaf + "/memory.max", "268435456\n");  // the same value, with the kernel's newline
    c = applier.check(leaf, kValues);
    REQUIRE(c.drifted.size() == 1);
    CHECK(c.drifted[0].wanted.file == "cpu.max");
    CHECK(c.drifted[0].found == "200000 100000");
    CHECK_FALSE(c.drifted[0].missing);
  }
  SECTION("a file that vanished is drift, marked missing") {
    fs::remove(leaf + "/io.max");
    const auto c = applier.check(leaf, kValues);
    REQUIRE(c.drifted.size() == 1);
    CHECK(c.drifted[0].wanted.file == "io.max");
    CHECK(c.drifted[0].missing);
  }
  SECTION("a removed directory is gone for check") {
    fs::remove_all(leaf);
    const auto c = applier.check(leaf, kValues);
    CHECK(c.gone);
    CHECK(c.drifted.empty());
  }
}

TEST_CASE("apply to a cgroup that is gone is an ordinary result", "[cgroup_apply]") {
  TempTree t;
  const std::string leaf = make_cgroup(t.root());
  CgroupApplier applier({t.root(), false});
  fs::remove_all(leaf);
  const auto before = open_fds();
  for (int i = 0; i < 50; ++i) {
    const auto r = applier.apply(leaf, kValues);
    CHECK(r.gone);
    CHECK_FALSE(r.ok());
    REQUIRE(r.files.size() == kValues.size());
    for (const auto& f : r.files) CHECK(f.status == CgroupFileStatus::kGone);
    CHECK(applier.check(leaf, kValues).gone);
    CHECK(read_usage(leaf).gone);
  }
  CHECK(open_fds() == before);
}

TEST_CASE("a missing interface file in an existing cgroup fails, others are written",
          "[cgroup_apply]") {
  TempTree t;
  const std::string leaf = make_cgroup(t.root());
  fs::remove(leaf + "/memory.swap.max");
  CgroupApplier applier({t.root(), false});
  const auto r = applier.apply(leaf, kValues);
  CHECK_FALSE(r.gone);
  CHECK(r.failed() == 1);
  CHECK(r.written() == kValues.size() - 1);
  CHECK(r.files[3].status == CgroupFileStatus::kFailed);
  CHECK_THAT(r.files[3].error,
             Contains("memory.swap.max does not exist") && Contains("memory controller enabled"));
}

TEST_CASE("apply enables missing controllers from the root down", "[cgroup_apply]") {
  TempTree t;
  const std::string leaf = make_cgroup(t.root(), "cpu memory");
  put(t.root() + "/a.slice/cgroup.subtree_control", "cpu memory\n");
  CgroupApplier applier({t.root(), false});
  const auto r = applier.apply(leaf, kValues);
  CHECK(r.setup_errors.empty());
  // The root and b.slice already listed io; a.slice got "+io" (written over the plain file's
  // start).
  CHECK(get(t.root() + "/a.slice/cgroup.subtree_control").rfind("+io", 0) == 0);
  CHECK(get(t.root() + "/cgroup.subtree_control") == "cpu memory io\n");

  SECTION("a level whose subtree_control cannot be read is an error naming it") {
    const std::string leaf2 = make_cgroup(t.root(), "cpu memory");
    fs::remove(t.root() + "/cgroup.subtree_control");
    const auto r2 = applier.apply(leaf2, kValues);
    REQUIRE(r2.setup_errors.size() == 1);
    CHECK_THAT(r2.setup_errors[0], Contains("cgroup.subtree_control"));
  }
  SECTION("outside cgroup_root") {
    CgroupApplier other({"/nonexistent-root", false});
    const auto r2 = other.apply(leaf, kValues);
    REQUIRE(r2.setup_errors.size() == 1);
    CHECK_THAT(r2.setup_errors[0],
               Contains("not below cgroup_root /nonexistent-root") && Contains("io"));
  }
}

TEST_CASE("read_usage parses the statistics files", "[cgroup_apply]") {
  TempTree t;
  const std::string leaf = make_cgroup(t.root());
  put(leaf + "/cpu.stat",
      "usage_usec 5000000\nuser_usec 4000000\nsystem_usec 1000000\nnr_periods 50\n"
      "nr_throttled 10\nthrottled_usec 250000\n");
  put(leaf + "/memory.current", "123456\n");
  put(leaf + "/memory.max", "268435456\n");
  put(leaf + "/memory.events", "low 0\nhigh 3\nmax 2\noom 1\noom_kill 1\n");
  put(leaf + "/io.stat", "7:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n");
  auto u = read_usage(leaf);
  CHECK(u.ok());
  CHECK(u.usage.cpu.usage_usec == 5000000);
  CHECK(u.usage.cpu.throttled_usec == 250000);
  CHECK(u.usage.memory_current == 123456u);
  CHECK(u.usage.memory_max == 268435456u);
  REQUIRE(u.usage.memory_events);
  CHECK(u.usage.memory_events->oom_kill == 1);
  REQUIRE(u.usage.io);
  CHECK(u.usage.io->total.wbytes == 200);

  SECTION("absent controllers are absent, not errors; memory.max max is nullopt") {
    for (const char* f : {"memory.current", "memory.events", "io.stat"}) fs::remove(leaf + "/" + f);
    put(leaf + "/memory.max", "max\n");
    u = read_usage(leaf);
    CHECK(u.ok());
    CHECK_FALSE(u.usage.memory_current);
    CHECK_FALSE(u.usage.memory_max);
    CHECK_FALSE(u.usage.memory_events);
    CHECK_FALSE(u.usage.io);
  }
  SECTION("a malformed file is an error naming it; the others are still read") {
    put(leaf + "/memory.events", "garbage\n");
    u = read_usage(leaf);
    CHECK_FALSE(u.ok());
    REQUIRE(u.errors.size() == 1);
    CHECK_THAT(u.errors[0], Contains("memory.events"));
    CHECK(u.usage.memory_current == 123456u);
  }
  SECTION("cpu.stat is required") {
    fs::remove(leaf + "/cpu.stat");
    u = read_usage(leaf);
    CHECK_FALSE(u.gone);
    REQUIRE(u.errors.size() == 1);
    CHECK_THAT(u.errors[0], Contains("cpu.stat"));
  }
}

TEST_CASE("mountinfo parsing and the mount of a path", "[quota]") {
  const std::string text =
      "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n"
      "30 22 7:0 / /cache/data rw,relatime shared:5 - xfs /dev/loop0 rw,attr2,inode64,prjquota\n"
      "31 22 7:0 /sub /mnt/with\\040space rw - xfs /dev/loop0 rw,prjquota\n"
      "40 22 0:25 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
      "garbage line\n"
      "41 22 0:26 / /x rw no-separator-here\n";
  const auto mounts = parse_mountinfo(text);
  REQUIRE(mounts.size() == 4);
  CHECK(mounts[1].major == 7);
  CHECK(mounts[1].minor == 0);
  CHECK(mounts[1].mount_point == "/cache/data");
  CHECK(mounts[1].fs_type == "xfs");
  CHECK(mounts[1].source == "/dev/loop0");
  CHECK(mounts[1].super_options == "rw,attr2,inode64,prjquota");
  CHECK(mounts[2].mount_point == "/mnt/with space");
  CHECK(mounts[2].root == "/sub");

  auto m = find_mount(mounts, 7, 0, "/cache/data/ndt");
  REQUIRE(m);
  CHECK(m->mount_point == "/cache/data");
  m = find_mount(mounts, 7, 0, "/mnt/with space/x");
  REQUIRE(m);
  CHECK(m->mount_point == "/mnt/with space");
  m = find_mount(mounts, 7, 0, "/elsewhere");  // no prefix: any mount of the device
  REQUIRE(m);
  CHECK(m->source == "/dev/loop0");
  m = find_mount(mounts, 8, 1, "/cache/dataX");
  REQUIRE(m);
  CHECK(m->mount_point == "/");
  CHECK_FALSE(find_mount(mounts, 9, 9, "/"));

  CHECK(decode_mountinfo_path("a\\040b\\011c\\134d") == "a b\tc\\d");
  CHECK(decode_mountinfo_path("trailing\\04") == "trailing\\04");
}

TEST_CASE("quota units and filesystem kinds", "[quota]") {
  CHECK(bytes_to_quota_blocks(0, kXfsBasicBlock) == 0);
  CHECK(bytes_to_quota_blocks(8 << 20, kXfsBasicBlock) == 16384);
  CHECK(bytes_to_quota_blocks(8 << 20, kQuotaBlock) == 8192);
  CHECK(bytes_to_quota_blocks(1023, kQuotaBlock) == 1);  // never 0 (= no limit) for a limit
  CHECK(bytes_to_quota_blocks(20'000'000'000ULL, kQuotaBlock) == 19'531'250);
  CHECK(bytes_to_quota_blocks(1537, kXfsBasicBlock) == 3);
  CHECK(quota_fs_of("xfs") == QuotaFs::kXfs);
  CHECK(quota_fs_of("ext4") == QuotaFs::kExt4);
  CHECK(quota_fs_of("tmpfs") == QuotaFs::kOther);
}

TEST_CASE("a quota on an unsupported filesystem is an error naming it", "[quota]") {
  TempTree t;  // /tmp: tmpfs or the root filesystem of the build machine
  const auto fsinfo = quota_filesystem(t.root());
  if (fsinfo) {
    CHECK((fsinfo->kind == QuotaFs::kXfs || fsinfo->kind == QuotaFs::kExt4));
  } else {
    CHECK_THAT(fsinfo.error().message, Contains(t.root()) && Contains("supported on xfs and ext4"));
  }
  const auto missing = quota_filesystem(t.root() + "/nope");
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message, Contains("/nope") && Contains("No such file"));
}
