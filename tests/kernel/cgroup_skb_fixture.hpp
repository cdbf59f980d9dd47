// kernel tier, the cgroup_skb tests' fixture (test_cgroup_skb.cpp, test_cgroup_links.cpp): the
// programs of host-network experiments (bpf/account.bpf.c) on real traffic. A private cgroup under
// the host's cgroup2 mount, two network namespaces joined by a veth pair (198.18.0.1 / 2001:db8::1
// "server", 198.18.0.2 / 2001:db8::2 "client"), processes placed in the cgroup by writing their pid
// into cgroup.procs. BpfDatapath is driven directly (no uplink, no daemon). Needs root. Everything
// made here carries the test's pid in its name and is removed by the fixture's destructor, also
// when a check fails.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bandwidth/limiter.hpp"
#include "datapath/bpf_datapath.hpp"

namespace enforcer::cgroup_skb_test {

using namespace std::chrono_literals;

constexpr std::uint32_t kExp = 1;
constexpr std::uint64_t kEthHlen = 14;

// Where cgroup2 is mounted (/sys/fs/cgroup on most hosts, /sys/fs/cgroup/unified on hybrid ones).
inline std::string cgroup2_mount() {
  std::ifstream mounts("/proc/self/mounts");
  std::string dev, dir, type, rest;
  while (mounts >> dev >> dir >> type && std::getline(mounts, rest)) {
    if (type == "cgroup2") return dir;
  }
  return {};
}

inline int shell(const std::string& cmd) {
  std::fflush(nullptr);
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline std::string output_of(const std::string& cmd) {
  std::fflush(nullptr);
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  return out;
}

inline bool write_file(const std::string& path, const std::string& text) {
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

inline bool enter_netns(const std::string& ns) {
  const int fd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = setns(fd, CLONE_NEWNET) == 0;
  close(fd);
  return ok;
}

inline sockaddr_storage address(const char* ip, std::uint16_t port) {
  sockaddr_storage ss{};
  if (std::strchr(ip, ':')) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &a->sin6_addr);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    inet_pton(AF_INET, ip, &a->sin_addr);
  }
  return ss;
}

inline socklen_t length_of(const sockaddr_storage& ss) {
  return ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

// A UDP socket bound to ip:port, with a large receive buffer (no datagram of the test may be lost
// to a full buffer) and a receive timeout. -1 on failure.
inline int udp_socket(const char* ip, std::uint16_t port) {
  const sockaddr_storage ss = address(ip, port);
  const int s = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  const int buf = 8 << 20;
  setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
  const timeval tv{5, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (bind(s, reinterpret_cast<const sockaddr*>(&ss), length_of(ss)) != 0) {
    close(s);
    return -1;
  }
  return s;
}

struct Counts {
  std::uint64_t bytes[2] = {};
  std::uint64_t packets[2] = {};
  std::uint64_t dropped_packets[2] = {};
};

// What the fixture made, released in the destructor; a member of the fixture, so that it is
// released also when the fixture's constructor fails half-way.
struct Owned {
  std::string srv, cli;
  std::unique_ptr<BpfDatapath> dp;
  std::vector<std::string> cgroups;
  std::vector<pid_t> children;
  bool netns = false;
  std::string pin_dir;  // removed whatever is left in it (a test that failed while held)

  ~Owned() {
    for (pid_t pid : children) kill(pid, SIGKILL);
    for (pid_t pid : children) waitpid(pid, nullptr, 0);
    dp.reset();  // detaches, unpins
    if (!pin_dir.empty()) shell("rm -rf " + pin_dir + " 2>/dev/null");
    // Anything still in our cgroups was started by this test (a grandchild): end it.
    for (auto it = cgroups.rbegin(); it != cgroups.rend(); ++it) {
      std::ifstream procs(*it + "/cgroup.procs");
      for (pid_t pid; procs >> pid;) kill(pid, SIGKILL);
    }
    for (auto it = cgroups.rbegin(); it != cgroups.rend(); ++it) {
      for (int i = 0; i < 50 && rmdir(it->c_str()) != 0 && errno == EBUSY; ++i) {
        std::this_thread::sleep_for(100ms);
      }
    }
    if (netns) {
      shell("ip netns del " + srv + " 2>/dev/null");
      shell("ip netns del " + cli + " 2>/dev/null");
    }
  }
};

class Fixture {
 public:
  const std::string tag = "enfcg" + std::to_string(getpid());
  const std::string srv = tag + "-srv";
  const std::string cli = tag + "-cli";
  std::string cgroup;   // the experiment's cgroup
  std::string inner;    // a cgroup below it (a container's scope under its pod)
  std::string outside;  // a sibling cgroup that is no experiment's

  // pin_links: as the daemon runs it (BpfDatapathOptions::pin_cgroup_links).
  explicit Fixture(bool pin_links = false) : pin_links_(pin_links) {
    REQUIRE(geteuid() == 0);
    const std::string root = cgroup2_mount();
    if (root.empty()) FAIL("no cgroup2 mount in /proc/self/mounts");
    cgroup = root + "/enforcer-test-" + std::to_string(getpid());
    inner = cgroup + "/inner";
    outside = root + "/enforcer-test-" + std::to_string(getpid()) + "-outside";
    for (const std::string& dir : {cgroup, inner, outside}) {
      const int rc = mkdir(dir.c_str(), 0755);
      INFO("mkdir " << dir << ": " << std::strerror(errno));
      REQUIRE(rc == 0);
      own_.cgroups.push_back(dir);
    }
    own_.srv = srv;
    own_.cli = cli;
    own_.pin_dir = pin_dir();
    own_.netns = true;
    sh("ip netns add " + srv);
    sh("ip netns add " + cli);
    sh("ip link add v0 netns " + srv + " type veth peer name v1 netns " + cli);
    for (const auto& [ns, dev, v4, v6] :
         {std::tuple{srv, "v0", "198.18.0.1/24", "2001:db8::1/64"},
          std::tuple{cli, "v1", "198.18.0.2/24", "2001:db8::2/64"}}) {
      sh("ip -n " + ns + " link set lo up");
      sh("ip -n " + ns + " addr add " + v4 + " dev " + dev);
      sh("ip -n " + ns + " addr add " + v6 + " dev " + dev + " nodad");
      sh("ip -n " + ns + " link set " + dev + " up");
    }
    // Root qdiscs count wire bytes (qdisc_pkt_len: every segment of a GSO aggregate with its
    // own headers), which the programs count; the interface counters count skb->len.
    for (const auto& [ns, dev] : {std::pair{srv, "v0"}, std::pair{cli, "v1"}}) {
      sh("ip netns exec " + ns + " tc qdisc replace dev " + dev + " root pfifo limit 1000");
    }
    sh("ip netns exec " + cli + " ping -c1 -W2 198.18.0.1 >/dev/null");
    sh("ip netns exec " + cli + " ping -c1 -W2 2001:db8::1 >/dev/null");

    auto dp = BpfDatapath::create(options());
    if (!dp) FAIL("cannot load the datapath: " << dp.error().message);
    own_.dp = std::move(*dp);
    REQUIRE(own_.dp->add_experiment(kExp, {}).ok());  // host network: no addresses of its own
    auto r = own_.dp->attach_cgroup(kExp, cgroup);
    if (!r) FAIL(r.error().message);
  }

  BpfDatapath& dp() { return *own_.dp; }
  const std::string pin_dir() const { return "/sys/fs/bpf/" + tag; }
  BpfDatapathOptions options() const {
    BpfDatapathOptions o{pin_dir(), {}, 16};
    o.pin_cgroup_links = pin_links_;
    return o;
  }
  // A daemon's stop that holds its datapath: nothing of this instance is left but its pins.
  void hold_and_drop() {
    own_.dp->hold();
    own_.dp.reset();
  }
  // The next daemon's datapath, adopting the pins.
  void adopt() {
    auto dp = BpfDatapath::create(options());
    if (!dp) FAIL("cannot load the datapath again: " << dp.error().message);
    own_.dp = std::move(*dp);
    REQUIRE(own_.dp->adopted());
    REQUIRE(own_.dp->keep_experiment(kExp, {}).ok());
  }

  static void sh(const std::string& cmd) {
    INFO(cmd);
    REQUIRE(shell(cmd) == 0);
  }

  // Forks a child that joins `cgroup_dir` (unless empty) and the network namespace `ns`, then runs
  // `body` and exits with its result.
  pid_t spawn(const std::string& cgroup_dir, const std::string& ns, std::function<int()> body) {
    std::fflush(nullptr);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      if (!cgroup_dir.empty() &&
          !write_file(cgroup_dir + "/cgroup.procs", std::to_string(getpid()))) {
        _exit(120);
      }
      if (!enter_netns(ns)) _exit(121);
      _exit(body());
    }
    own_.children.push_back(pid);
    return pid;
  }

  pid_t spawn_exec(const std::string& cgroup_dir, const std::string& ns,
                   std::vector<std::string> argv) {
    return spawn(cgroup_dir, ns, [argv] {
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, STDOUT_FILENO);
      execvp(args[0], args.data());
      return 127;
    });
  }

  // The child's exit status (-1 when it had to be killed after `timeout`).
  int wait(pid_t pid, std::chrono::seconds timeout = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        status = -1;
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    own_.children.erase(std::remove(own_.children.begin(), own_.children.end(), pid),
                        own_.children.end());
    return status == -1 ? -1 : (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  }

  // A UDP socket in namespace `ns` (the test process itself stays where it is: in no experiment's
  // cgroup, so its sockets are not counted).
  int udp_socket_in(const std::string& ns, const char* ip, std::uint16_t port) {
    const int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    REQUIRE(self >= 0);
    REQUIRE(enter_netns(ns));
    const int s = udp_socket(ip, port);
    REQUIRE(setns(self, CLONE_NEWNET) == 0);
    close(self);
    REQUIRE(s >= 0);
    return s;
  }

  Counts counts(std::uint32_t id) {
    std::vector<CounterSample> out;
    REQUIRE(own_.dp->read_counters(kExp, out).ok());
    Counts c;
    for (Direction d : kDirections) {
      c.bytes[d] = out[id].bytes[d];
      c.packets[d] = out[id].packets[d];
      c.dropped_packets[d] = out[id].dropped_packets[d];
    }
    return c;
  }

  // The bytes `dev`'s root qdisc has sent: wire bytes.
  std::uint64_t qdisc_sent(const std::string& ns, const std::string& dev) {
    const std::string v = output_of("ip netns exec " + ns + " tc -s qdisc show dev " + dev +
                                    " root | awk '$1 == \"Sent\" && !n { print $2; n = 1 }'");
    REQUIRE(!v.empty());
    return std::stoull(v);
  }

  std::uint64_t iface_bytes(const std::string& ns, const std::string& dev, const char* what) {
    const std::string v = output_of("ip netns exec " + ns + " cat /sys/class/net/" + dev +
                                    "/statistics/" + what + "_bytes");
    REQUIRE(!v.empty());
    return std::stoull(v);
  }

 private:
  Owned own_;
  bool pin_links_ = false;
};

// The client: sends `n` datagrams of `size` bytes from each of its sockets (IPv4 and IPv6) to the
// server, then receives the server's `n` echoes on each. With `loopback`, it talks to itself over
// lo instead. Returns 0 when every echo arrived.
inline int udp_client(int n, std::size_t size, bool loopback) {
  std::vector<char> payload(size, 'x');
  struct Pair {
    const char* self;
    const char* peer;
  };
  const std::vector<Pair> pairs =
      loopback ? std::vector<Pair>{{"127.0.0.1", "127.0.0.1"}, {"::1", "::1"}}
               : std::vector<Pair>{{"198.18.0.2", "198.18.0.1"}, {"2001:db8::2", "2001:db8::1"}};
  std::vector<int> socks;
  for (const Pair& p : pairs) {
    const int s = udp_socket(p.self, 9001);
    if (s < 0) return 2;
    socks.push_back(s);
    const sockaddr_storage to = address(p.peer, loopback ? 9001 : 9000);
    for (int i = 0; i < n; ++i) {
      if (sendto(s, payload.data(), size, 0, reinterpret_cast<const sockaddr*>(&to),
                 length_of(to)) != static_cast<ssize_t>(size)) {
        return 3;
      }
    }
  }
  for (int s : socks) {
    for (int i = 0; i < n; ++i) {
      if (recv(s, payload.data(), size, 0) != static_cast<ssize_t>(size)) return 4;
    }
  }
  return 0;
}

// The server's side of udp_client: echoes `n` datagrams on each socket.
inline void echo(const std::vector<int>& socks, int n) {
  std::vector<char> buf(65536);
  for (int s : socks) {
    for (int i = 0; i < n; ++i) {
      sockaddr_storage from{};
      socklen_t len = sizeof from;
      const ssize_t got =
          recvfrom(s, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
      REQUIRE(got > 0);
      REQUIRE(sendto(s, buf.data(), static_cast<std::size_t>(got), 0,
                     reinterpret_cast<const sockaddr*>(&from), len) == got);
    }
  }
}

// A client in `cgroup_dir` (none: "") exchanges `n` datagrams of `size` bytes on each of its
// sockets with `server`, or over loopback with itself.
inline void exchange(Fixture& fx, const std::string& cgroup_dir, const std::vector<int>& server,
                     int n, std::size_t size, bool loopback = false) {
  const pid_t child = fx.spawn(cgroup_dir, fx.cli, [=] { return udp_client(n, size, loopback); });
  if (!loopback) echo(server, n);
  REQUIRE(fx.wait(child) == 0);
}

}  // namespace enforcer::cgroup_skb_test
