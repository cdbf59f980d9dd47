// kernel tier: discovery on the real cgroup2 hierarchy and real network namespaces. Needs root.
//
// Where: a private subtree `enfdisc<pid>` of the cgroup2 mount (on the build machines
// /sys/fs/cgroup/unified, which has no controllers: making directories and moving processes
// there works all the same; in the vm guest /sys/fs/cgroup; ENFORCER_CGROUP2 overrides). It plays
// cgroup_root, with kubepods.slice/kubepods-besteffort.slice/<pod>.slice/cri-containerd-<id>.scope
// below it, as the kubelet lays it out. One pod has a `sleep` in a network namespace of its own
// (`ip netns add enfdisc<pid>`, a veth pair inside holding 198.18.5.10/24 and 2001:db8:5::10/64),
// one a `sleep` in the host's namespace (a host-network pod), one no process. Everything (the
// processes, the cgroup directories, the namespace) is removed by a destructor, also when a check
// fails.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "pods/discovery.hpp"

using namespace enforcer;

namespace {

constexpr long kCgroup2Magic = 0x63677270;  // CGROUP2_SUPER_MAGIC

std::string cgroup2_mount() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("ENFORCER_CGROUP2")) candidates.emplace_back(env);
  candidates.emplace_back("/sys/fs/cgroup/unified");
  candidates.emplace_back("/sys/fs/cgroup");
  for (const auto& c : candidates) {
    struct statfs fs {};
    if (::statfs(c.c_str(), &fs) == 0 && fs.f_type == kCgroup2Magic) return c;
  }
  return {};
}

void run(const std::string& command) {
  INFO("command: " << command);
  REQUIRE(std::system(command.c_str()) == 0);
}

bool in_procs(const std::string& dir, pid_t pid) {
  std::ifstream in(dir + "/cgroup.procs");
  long p = 0;
  while (in >> p) {
    if (p == pid) return true;
  }
  return false;
}

// Waits (up to 2 s) for the watcher's fd to be readable, then drains it.
bool wait_and_drain(CgroupWatcher& w) {
  pollfd pfd{w.fd(), POLLIN, 0};
  if (::poll(&pfd, 1, 2000) <= 0) return false;
  return w.drain();
}

NetnsKey thread_netns() {
  struct stat st {};
  REQUIRE(::stat("/proc/thread-self/ns/net", &st) == 0);
  return NetnsKey{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

// What the test made, removed in reverse order by the destructor (a member of the fixture, so it
// also runs when the fixture's constructor fails half way).
struct Made {
  std::vector<std::string> dirs;
  std::vector<pid_t> children;
  std::string netns;  // empty: none made

  Made() = default;
  Made(const Made&) = delete;
  Made& operator=(const Made&) = delete;
  ~Made() {
    for (const pid_t p : children) {
      ::kill(p, SIGKILL);
      ::waitpid(p, nullptr, 0);
    }
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) remove_dir(*it);
    if (!netns.empty()) {
      const std::string del = "ip netns del " + netns + " 2>/dev/null";
      if (std::system(del.c_str()) != 0) std::fprintf(stderr, "cleanup: %s failed\n", del.c_str());
    }
  }

  // A cgroup whose last process was just reaped may be busy for a moment.
  static bool remove_dir(const std::string& path) {
    for (int i = 0; i < 200; ++i) {
      if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return true;
      if (errno != EBUSY) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::fprintf(stderr, "cleanup: rmdir %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
};

class Fixture {
 public:
  Fixture() {
    REQUIRE(::geteuid() == 0);  // the kernel tier runs as root
    mount_ = cgroup2_mount();
    if (mount_.empty()) FAIL("no cgroup2 mount at /sys/fs/cgroup/unified or /sys/fs/cgroup");
    netns_ = "enfdisc" + std::to_string(::getpid());
    base_ = mount_ + "/" + netns_;
    make_dir(base_);
    make_dir(kubepods());
    make_dir(qos());
    run("ip netns add " + netns_);
    made_.netns = netns_;
    run("ip -n " + netns_ + " link add d0 type veth peer name d1");
    run("ip -n " + netns_ + " addr add 198.18.5.10/24 dev d0");
    run("ip -n " + netns_ + " addr add 2001:db8:5::10/64 dev d0 nodad");
    run("ip -n " + netns_ + " link set d0 up");
    run("ip -n " + netns_ + " link set d1 up");
    run("ip -n " + netns_ + " link set lo up");
  }

  const std::string& base() const { return base_; }
  std::string kubepods() const { return base_ + "/kubepods.slice"; }
  std::string qos() const { return kubepods() + "/kubepods-besteffort.slice"; }
  std::string pod(const std::string& uid) const {
    return qos() + "/kubepods-besteffort-pod" + uid + ".slice";
  }
  static std::string scope_name(char fill) {
    return "cri-containerd-" + std::string(64, fill) + ".scope";
  }
  const std::string& netns() const { return netns_; }

  void make_dir(const std::string& path) {
    INFO("mkdir " << path);
    REQUIRE(::mkdir(path.c_str(), 0755) == 0);
    made_.dirs.push_back(path);
  }

  // Removes a directory made with make_dir before the end of the test.
  void remove_now(const std::string& path) {
    REQUIRE(Made::remove_dir(path));
    std::erase(made_.dirs, path);
  }

  // Starts `sleep` in the cgroup `dir`, in the test's network namespace when `own_netns`;
  // returns once the kernel lists it in dir/cgroup.procs.
  pid_t start_sleep(const std::string& dir, bool own_netns) {
    const std::string ns_path = "/run/netns/" + netns_;
    const std::string procs = dir + "/cgroup.procs";
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {  // only async-signal-safe calls from here
      if (own_netns) {
        const int fd = ::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) ::_exit(126);
      }
      const int cg = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
      if (cg < 0 || ::write(cg, "0", 1) != 1) ::_exit(125);  // "0": the writing process
      ::close(cg);
      ::execlp("sleep", "sleep", "600", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    made_.children.push_back(pid);
    for (int i = 0; i < 200 && !in_procs(dir, pid); ++i) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        std::erase(made_.children, pid);
        FAIL("the child exited with status " << status << " before joining " << dir);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(in_procs(dir, pid));
    return pid;
  }

  void stop(pid_t pid) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    std::erase(made_.children, pid);
  }

 private:
  std::string mount_;
  std::string base_;
  std::string netns_;
  Made made_;  // last member: destroyed first
};

std::vector<std::string> strings(const std::vector<Prefix>& prefixes) {
  std::vector<std::string> out;
  for (const auto& p : prefixes) out.push_back(to_string(p));
  return out;
}

}  // namespace

TEST_CASE("a namespace's addresses are read without moving the caller", "[discovery]") {
  Fixture f;
  const NetnsKey before = thread_netns();
  const int fd = ::open(("/run/netns/" + f.netns()).c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  auto addresses = netns_addresses(fd);
  ::close(fd);
  REQUIRE(addresses.ok());
  // lo's 127.0.0.1 and ::1 and d0's/d1's fe80:: addresses are left out.
  CHECK(strings(*addresses) == std::vector<std::string>{"198.18.5.10", "2001:db8:5::10"});
  CHECK(thread_netns() == before);
}

TEST_CASE("scan, match and the watcher on a real cgroup2 pod tree", "[discovery]") {
  Fixture f;
  auto watcher = CgroupWatcher::create(f.kubepods());
  REQUIRE(watcher.ok());
  CgroupWatcher& w = *watcher;
  const std::size_t baseline = w.watch_count();
  CHECK(baseline == 2);  // kubepods.slice and the qos slice
  CHECK(*w.kernel_watch_count() == baseline);

  // Pod "exp": its own network namespace. The watcher sees the pod appear; its container scope
  // (made right after, as containerd does) is seen on the pod's new watch or by the rescan.
  const std::string exp_pod = f.pod("e5e5e5e5_0000_4000_8000_000000000001");
  f.make_dir(exp_pod);
  f.make_dir(exp_pod + "/" + Fixture::scope_name('a'));
  CHECK(wait_and_drain(w));
  CHECK(w.watch_count() == baseline + 1);
  f.start_sleep(exp_pod + "/" + Fixture::scope_name('a'), true);

  // Pod "host": host networking. Pod "empty": no process yet.
  const std::string host_pod = f.pod("b0b0b0b0_0000_4000_8000_000000000002");
  f.make_dir(host_pod);
  f.make_dir(host_pod + "/" + Fixture::scope_name('b'));
  f.start_sleep(host_pod + "/" + Fixture::scope_name('b'), false);
  const std::string empty_pod = f.pod("c0c0c0c0_0000_4000_8000_000000000003");
  f.make_dir(empty_pod);
  CHECK(wait_and_drain(w));
  CHECK(w.watch_count() == baseline + 3);
  CHECK(*w.kernel_watch_count() == baseline + 3);

  ScanOptions options;
  options.cgroup_root = f.base();
  PodScanner scanner(options);
  CHECK(scanner.options().root == f.kubepods());
  auto pods = scanner.scan();
  REQUIRE(pods.ok());
  REQUIRE(pods->size() == 3);
  const PodInfo& host = (*pods)[0];  // sorted by name: b0b0..., c0c0..., e5e5...
  const PodInfo& empty = (*pods)[1];
  const PodInfo& exp = (*pods)[2];
  CHECK(exp.path == exp_pod);
  CHECK(exp.relative ==
        "kubepods.slice/kubepods-besteffort.slice/"
        "kubepods-besteffort-pode5e5e5e5_0000_4000_8000_000000000001.slice");
  REQUIRE(exp.netns);
  CHECK_FALSE(exp.host_network);
  CHECK(strings(exp.addresses) == std::vector<std::string>{"198.18.5.10", "2001:db8:5::10"});
  struct stat st {};
  REQUIRE(::stat(exp_pod.c_str(), &st) == 0);
  CHECK(exp.cgroup_id == st.st_ino);
  REQUIRE(host.netns);
  CHECK(host.host_network);
  CHECK(host.addresses.empty());
  CHECK_FALSE(empty.netns);
  CHECK(scanner.incomplete());
  CHECK(scanner.netns_reads() == 1);
  CHECK(host.cgroup_id > exp.cgroup_id);  // cgroup ids grow: the newer pod has the larger one

  // The cache: an unchanged pod is not read again.
  auto again = scanner.scan();
  REQUIRE(again.ok());
  CHECK(again->size() == 3);
  CHECK(scanner.netns_reads() == 1);
  CHECK(scanner.cache_size() == 1);

  const std::vector<ExperimentSpec> experiments{
      {"other", {*parse_prefix("198.18.6.10")}, std::nullopt},
      {"exp5", {*parse_prefix("198.18.5.10"), *parse_prefix("2001:db8:5::10")}, std::nullopt},
      {"hostnet", {}, "kubepods.slice/*/*-podb0b0b0b0_*.slice"},
  };
  const MatchResult m = match(experiments, *pods);
  CHECK(m.warnings.empty());
  CHECK_FALSE(m.experiments[0].chosen);
  REQUIRE(m.experiments[1].chosen);
  CHECK((*pods)[m.experiments[1].chosen->pod].path == exp_pod);
  CHECK(m.experiments[1].chosen->by == MatchKind::kAddress);
  REQUIRE(m.experiments[2].chosen);
  CHECK((*pods)[m.experiments[2].chosen->pod].path == host_pod);
  CHECK(m.experiments[2].chosen->by == MatchKind::kGlob);

  // A container restart in the exp pod: a new scope appears and the old one goes; the watcher
  // reports both and no watch is added for scopes.
  const std::string new_scope = exp_pod + "/" + Fixture::scope_name('d');
  f.make_dir(new_scope);
  CHECK(wait_and_drain(w));
  CHECK(w.watch_count() == baseline + 3);
  f.remove_now(new_scope);
  CHECK(wait_and_drain(w));

  // The exp pod goes away: its process ends, its cgroups are removed. The watcher reports it,
  // its watch is freed, and the next scan forgets its namespace.
  const pid_t victim = [&] {
    std::ifstream in(exp_pod + "/" + Fixture::scope_name('a') + "/cgroup.procs");
    long p = 0;
    in >> p;
    return static_cast<pid_t>(p);
  }();
  REQUIRE(victim > 0);
  f.stop(victim);
  f.remove_now(exp_pod + "/" + Fixture::scope_name('a'));
  f.remove_now(exp_pod);
  CHECK(wait_and_drain(w));
  CHECK(w.watch_count() == baseline + 2);
  CHECK(*w.kernel_watch_count() == baseline + 2);
  auto after = scanner.scan();
  REQUIRE(after.ok());
  CHECK(after->size() == 2);
  CHECK(scanner.cache_size() == 0);

  // The others go too: back to the baseline, as the kernel counts them as well.
  f.remove_now(empty_pod);
  const pid_t host_pid = [&] {
    std::ifstream in(host_pod + "/" + Fixture::scope_name('b') + "/cgroup.procs");
    long p = 0;
    in >> p;
    return static_cast<pid_t>(p);
  }();
  REQUIRE(host_pid > 0);
  f.stop(host_pid);
  f.remove_now(host_pod + "/" + Fixture::scope_name('b'));
  f.remove_now(host_pod);
  CHECK(wait_and_drain(w));
  CHECK(w.watch_count() == baseline);
  CHECK(*w.kernel_watch_count() == baseline);
  CHECK_FALSE(w.drain());  // nothing left over

  // The root goes (kernfs says nothing on the root's own watch): the watcher notices by the
  // removal of the qos slice below it and drops everything.
  f.remove_now(f.qos());
  f.remove_now(f.kubepods());
  CHECK(wait_and_drain(w));
  CHECK(w.root_gone());
  CHECK(w.watch_count() == 0);
  CHECK(*w.kernel_watch_count() == 0);
}
