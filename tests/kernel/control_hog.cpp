// A reader that tries to take the control socket for itself: opens MAX connections at once, then
// pipelines status requests on every one, keeping a few in flight on each and reading the
// answers, for SECONDS; those the daemon refuses ("busy", then EOF) are dropped. Prints one line:
//   held N refused "<message>" answered M
// (N: connections that got answers, 0 when the daemon refused them all; refused "" when none was
// refused). Exit 0 unless the socket misbehaved (a connection neither answered nor refused, an
// answer that is not JSON, an error other than "busy", an answered connection closed).
// With READY_FILE, creates it once every connection got its first answer or its refusal.
// Usage: control_hog SOCKET_PATH MAX SECONDS [READY_FILE]
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "FAIL: control_hog: %s\n", what.c_str());
  std::exit(1);
}

int connect_to(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) fail(std::string("socket: ") + std::strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    fail("connect " + path + ": " + std::strerror(errno));
  }
  return fd;
}

struct Conn {
  int fd = -1;
  int in_flight = 0;
  std::string pending;
  bool answered = false;  // got a status answer: the daemon took this connection
  bool closed = false;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: control_hog SOCKET_PATH MAX SECONDS [READY_FILE]\n");
    return 2;
  }
  const std::string path = argv[1];
  const int max = std::atoi(argv[2]);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(std::atoi(argv[3]));
  const std::string ready_file = argc == 5 ? argv[4] : "";
  bool ready = false;

  // All at once, as a hostile client would; the daemon accepts each and refuses the ones over its
  // limits with one "busy" line and EOF.
  std::vector<Conn> conns;
  for (int i = 0; i < max; ++i) {
    Conn c;
    c.fd = connect_to(path);
    conns.push_back(std::move(c));
  }

  constexpr int kInFlight = 4;
  const std::string request = "{\"v\":1,\"cmd\":\"status\"}\n";
  std::string refused;
  long answered = 0;
  std::vector<pollfd> polls(conns.size());
  while (std::chrono::steady_clock::now() < until) {
    for (std::size_t i = 0; i < conns.size(); ++i) {
      Conn& c = conns[i];
      polls[i] = {c.closed ? -1 : c.fd, POLLIN, 0};
      while (!c.closed && c.in_flight < kInFlight &&
             send(c.fd, request.data(), request.size(), MSG_NOSIGNAL) ==
                 static_cast<ssize_t>(request.size())) {
        ++c.in_flight;
      }
    }
    if (!ready && !ready_file.empty()) {
      ready = std::all_of(conns.begin(), conns.end(),
                          [](const Conn& c) { return c.answered || c.closed; });
      if (ready) {
        FILE* f = std::fopen(ready_file.c_str(), "w");
        if (f == nullptr) fail("cannot create " + ready_file + ": " + std::strerror(errno));
        std::fclose(f);
      }
    }
    if (poll(polls.data(), polls.size(), 100) <= 0) continue;
    for (std::size_t i = 0; i < conns.size(); ++i) {
      if (!(polls[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Conn& c = conns[i];
      char buf[65536];
      const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
      if (n <= 0) {
        if (c.answered) fail("connection " + std::to_string(i) + " closed by the daemon");
        c.closed = true;  // refused: its one line came before
        if (refused.empty()) refused = "closed without an answer";
        continue;
      }
      c.pending.append(buf, static_cast<std::size_t>(n));
      for (std::size_t nl; (nl = c.pending.find('\n')) != std::string::npos;) {
        const std::string line = c.pending.substr(0, nl);
        c.pending.erase(0, nl + 1);
        const auto r = nlohmann::json::parse(line, nullptr, false);
        if (r.is_discarded()) fail("an answer that is not JSON: " + line);
        if (!r.value("ok", false)) {
          if (c.answered || r["error"].value("code", "") != "busy") fail("answer: " + line);
          refused = r["error"].value("message", "");
          c.closed = true;
          break;
        }
        c.answered = true;
        --c.in_flight;
        ++answered;
      }
    }
  }
  std::size_t held = 0;
  for (const Conn& c : conns) held += c.answered ? 1 : 0;
  if (held == 0 && refused.empty()) fail("no connection was answered or refused");
  for (const Conn& c : conns) close(c.fd);
  std::printf("held %zu refused \"%s\" answered %ld\n", held, refused.c_str(), answered);
  return 0;
}
