// enforcerctl as a process (ENFORCERCTL_PATH): usage errors, no daemon, and a fake daemon on a
// Unix socket in a temporary folder that checks the request line and sends a canned response.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

using nlohmann::json;

namespace {

struct Run {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs enforcerctl with `args` (stdin /dev/null, stdout and stderr captured, no ENFORCER_SOCKET
// unless `socket_env` is given); kills it after 20 s.
Run run_ctl(const std::vector<std::string>& args, const std::string& socket_env = "") {
  int out_pipe[2];
  int err_pipe[2];
  REQUIRE(::pipe2(out_pipe, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(err_pipe, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    if (socket_env.empty()) {
      ::unsetenv("ENFORCER_SOCKET");
    } else {
      ::setenv("ENFORCER_SOCKET", socket_env.c_str(), 1);
    }
    std::vector<char*> argv{const_cast<char*>(ENFORCERCTL_PATH)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(ENFORCERCTL_PATH, argv.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  Run r;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (open_fds > 0 && std::chrono::steady_clock::now() < deadline) {
    if (::poll(fds, 2, 200) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  if (open_fds > 0) ::kill(pid, SIGKILL);
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  r.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  return r;
}

// A daemon stand-in: listens on <tmp>/control.sock, accepts one connection, reads one line and
// answers `response` (nothing, and closes, when empty; never, when `silent`).
class FakeDaemon {
 public:
  explicit FakeDaemon(std::string response, bool silent = false)
      : response_(std::move(response)), silent_(silent) {
    char dir[] = "/tmp/enforcerctl-test.XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    dir_ = dir;
    path_ = dir_ + "/control.sock";
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(::listen(listen_fd_, 4) == 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeDaemon() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  FakeDaemon(const FakeDaemon&) = delete;
  FakeDaemon& operator=(const FakeDaemon&) = delete;

  const std::string& path() const { return path_; }
  // The request line received (without its newline); valid after the client has exited.
  json request() const {
    const std::lock_guard lock(mutex_);
    return json::parse(request_, nullptr, false);
  }

 private:
  void serve() {
    pollfd p{listen_fd_, POLLIN, 0};
    while (!stop_ && ::poll(&p, 1, 100) <= 0) {
    }
    if (stop_ && (p.revents & POLLIN) == 0) return;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    std::string in;
    char buf[4096];
    while (in.find('\n') == std::string::npos) {
      const ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n <= 0) break;
      in.append(buf, static_cast<std::size_t>(n));
    }
    {
      const std::lock_guard lock(mutex_);
      request_ = in.substr(0, in.find('\n'));
    }
    if (silent_) {
      while (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } else if (!response_.empty()) {
      const std::string line = response_ + "\n";
      (void)!::write(fd, line.data(), line.size());
    }
    ::close(fd);
  }

  std::string response_;
  bool silent_;
  std::string dir_;
  std::string path_;
  int listen_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;  // request_: written by the server thread, read by the test
  std::string request_;
};

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

const char* kStatusResult = R"({"version": "0.3.0", "tick_ns": 1000000000,
  "link_rate_bits": 10000000000, "experiments": [
  {"name": "ndt", "id": 2,
   "allocation": {"bandwidth_bits": 2500000000, "window_ns": 300000000000,
                  "min_rate_bits": 25000000, "cpu_cores": 1, "memory_bytes": 1073741824,
                  "disk_bytes": 20000000000, "disk_io_fraction": 0.1},
   "pinned_bits": 0,
   "egress": {"window_average_bits": 87340000, "rate_bits": 91200000, "limit_bits": 12500000,
              "throttled": true, "allowance_bytes": 0, "bytes_total": 1, "dropped_packets_total": 0},
   "ingress": {"window_average_bits": 1000000, "rate_bits": 0, "limit_bits": 0,
               "throttled": false, "allowance_bytes": 0, "bytes_total": 1,
               "dropped_packets_total": 0},
   "pod": "", "cpu": null, "memory": null, "io": null, "disk": null, "overrides": []},
  {"name": "wehe", "id": 5,
   "allocation": {"bandwidth_bits": 100000000, "window_ns": 300000000000,
                  "min_rate_bits": 1000000, "cpu_cores": 1, "memory_bytes": 1073741824,
                  "disk_bytes": 20000000000, "disk_io_fraction": 0.1},
   "pinned_bits": 0, "egress": null, "ingress": null,
   "pod": "", "cpu": null, "memory": null, "io": null, "disk": null, "overrides": []}]})";

std::string ok_response(const std::string& result) {
  return json{{"v", 1}, {"ok", true}, {"result", json::parse(result)}}.dump();
}

}  // namespace

TEST_CASE("enforcerctl: usage errors exit 2, --help 0", "[ctl]") {
  CHECK(run_ctl({"--help"}).status == 0);
  CHECK(contains(run_ctl({"--help"}).out, "override"));
  CHECK(run_ctl({"override", "--help"}).status == 0);
  CHECK(run_ctl({}).status == 2);
  CHECK(run_ctl({"frobnicate"}).status == 2);
  CHECK(run_ctl({"override", "set"}).status == 2);
  CHECK(run_ctl({"override", "set", "ndt", "colour", "red", "--reason", "x"}).status == 2);

  const Run no_reason = run_ctl({"throttle", "x", "10Mbit"});
  CHECK(no_reason.status == 2);
  CHECK(contains(no_reason.err, "--reason"));
  CHECK(run_ctl({"throttle", "x", "10Mbit", "--reason", " "}).status == 2);
  CHECK(run_ctl({"reload"}).status == 2);

  const Run bad_for = run_ctl({"throttle", "x", "10Mbit", "--for", "1 day", "--reason", "r"});
  CHECK(bad_for.status == 2);
  CHECK(contains(bad_for.err, "--for"));
  const Run bad_until = run_ctl({"throttle", "x", "10Mbit", "--until", "soon", "--reason", "r"});
  CHECK(bad_until.status == 2);
  CHECK(contains(bad_until.err, "RFC 3339"));
  CHECK(
      run_ctl({"throttle", "x", "10Mbit", "--for", "1h", "--until", "1795867200", "--reason", "r"})
          .status == 2);
  CHECK(run_ctl({"throttle", "x", "fast", "--reason", "r"}).status == 2);
  CHECK(run_ctl({"--timeout", "never", "status"}).status == 2);

  const Run top = run_ctl({"top"});  // stdout is a pipe
  CHECK(top.status == 2);
  CHECK(contains(top.err, "not a terminal"));
}

TEST_CASE("enforcerctl: no daemon exits 3 and names the socket", "[ctl]") {
  const Run r = run_ctl({"--socket", "/nonexistent/control.sock", "status"});
  CHECK(r.status == 3);
  CHECK(contains(r.err, "/nonexistent/control.sock"));
  CHECK(contains(r.err, "is enforcerd running?"));
  CHECK(r.out.empty());

  // From the environment, and global options after the subcommand.
  const Run env = run_ctl({"status"}, "/nonexistent/env.sock");
  CHECK(env.status == 3);
  CHECK(contains(env.err, "/nonexistent/env.sock"));
  CHECK(run_ctl({"status", "--socket", "/nonexistent/after.sock"}).err.find("after.sock") !=
        std::string::npos);

  const Run json_err = run_ctl({"--socket", "/nonexistent/control.sock", "--json", "status"});
  CHECK(json_err.status == 3);
  CHECK(json::parse(json_err.err)["code"] == "unreachable");

  // version still prints the client's version.
  const Run v = run_ctl({"--socket", "/nonexistent/control.sock", "version"});
  CHECK(v.status == 0);
  CHECK(contains(v.out, "enforcerctl "));
  CHECK(contains(v.out, "not reachable"));
}

TEST_CASE("enforcerctl status against a fake daemon: table and --json", "[ctl]") {
  {
    FakeDaemon d(ok_response(kStatusResult));
    const Run r = run_ctl({"--socket", d.path(), "status"});
    INFO(r.out << r.err);
    CHECK(r.status == 0);
    CHECK(d.request() == json{{"v", 1}, {"cmd", "status"}});
    CHECK(r.out.rfind("EXPERIMENT", 0) == 0);
    CHECK(contains(r.out, "ndt"));
    CHECK(contains(r.out, "87.3Mbit/1Mbit"));
    CHECK(contains(r.out, "THROTTLED 12.5Mbit"));
    CHECK(contains(r.out, "wehe"));
    CHECK(contains(r.out, "100Mbit"));
  }
  {
    FakeDaemon d(ok_response(kStatusResult));
    const Run r = run_ctl({"status", "--json", "--socket", d.path()});
    CHECK(r.status == 0);
    CHECK(json::parse(r.out) == json::parse(kStatusResult));
  }
  {
    FakeDaemon d(ok_response(kStatusResult));
    const Run r = run_ctl({"--socket", d.path(), "_experiments"});
    CHECK(r.status == 0);
    CHECK(r.out == "ndt\nwehe\n");
  }
}

TEST_CASE("enforcerctl changes send the protocol's request", "[ctl]") {
  const std::string ovr =
      R"({"experiment": "ndt", "resource": "bandwidth", "value": "2.5Gbit", "expires": 1795867200,
          "reason": "campaign", "set_at": 1795000000, "set_by_uid": 0})";
  FakeDaemon d(ok_response(R"({"override": )" + ovr + R"(, "replaced": null})"));
  const Run r = run_ctl({"--socket", d.path(), "override", "set", "ndt", "bandwidth", "2.5Gbit",
                         "--until", "2026-11-28T14:00:00+02:00", "--reason", "campaign"});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(d.request() == json{{"v", 1},
                            {"cmd", "override.set"},
                            {"experiment", "ndt"},
                            {"resource", "bandwidth"},
                            {"value", "2.5Gbit"},
                            {"until", 1795867200},
                            {"reason", "campaign"}});
  CHECK(contains(r.out, "set: ndt bandwidth = 2.5Gbit, until 2026-11-28T12:00:00Z"));

  {
    FakeDaemon t(ok_response(R"({"override": )" + ovr + R"(, "replaced": null})"));
    const Run tr = run_ctl({"--socket", t.path(), "throttle", "ndt", "10Mbit", "--for", "24h",
                            "--reason", "abuse report"});
    CHECK(tr.status == 0);
    CHECK(t.request() == json{{"v", 1},
                              {"cmd", "throttle"},
                              {"experiment", "ndt"},
                              {"value", "10Mbit"},
                              {"for", "24h"},
                              {"reason", "abuse report"}});
  }
  {
    FakeDaemon c(ok_response(R"({"cleared": []})"));
    const Run cr =
        run_ctl({"--socket", c.path(), "override", "clear", "ndt", "--reason", "campaign over"});
    CHECK(cr.status == 0);
    CHECK(c.request() == json{{"v", 1},
                              {"cmd", "override.clear"},
                              {"experiment", "ndt"},
                              {"reason", "campaign over"}});
    CHECK(cr.out == "nothing to clear\n");
  }
}

TEST_CASE("enforcerctl: a refusal exits 1, unknown experiments list the known ones", "[ctl]") {
  const std::string error = json{
      {"v", 1},
      {"ok", false},
      {"error",
       {{"code", "unknown_experiment"},
        {"message", "unknown experiment \"ndtx\""},
        {"known",
         {"ndt", "wehe"}}}}}.dump();
  {
    FakeDaemon d(error);
    const Run r = run_ctl({"--socket", d.path(), "show", "ndtx"});
    CHECK(r.status == 1);
    CHECK(d.request() == json{{"v", 1}, {"cmd", "show"}, {"experiment", "ndtx"}});
    CHECK(contains(r.err, "unknown experiment \"ndtx\"; known: ndt, wehe"));
  }
  {
    FakeDaemon d(error);
    const Run r = run_ctl({"--socket", d.path(), "--json", "release", "ndtx", "--reason", "x"});
    CHECK(r.status == 1);
    CHECK(json::parse(r.err)["known"] == json{"ndt", "wehe"});
  }
  {
    FakeDaemon d("this is not json");
    CHECK(run_ctl({"--socket", d.path(), "status"}).status == 1);
  }
}

TEST_CASE("enforcerctl: a daemon that closes or never answers exits 3", "[ctl]") {
  {
    FakeDaemon d("");  // closes without a response
    const Run r = run_ctl({"--socket", d.path(), "status"});
    CHECK(r.status == 3);
    CHECK(contains(r.err, d.path()));
    CHECK(contains(r.err, "closed without a response"));
  }
  {
    FakeDaemon d("", /*silent=*/true);
    const auto start = std::chrono::steady_clock::now();
    const Run r = run_ctl({"--socket", d.path(), "--timeout", "300ms", "status"});
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
    CHECK(r.status == 3);
    CHECK(contains(r.err, "no answer within 300ms"));
  }
}
