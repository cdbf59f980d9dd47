// Abuses a running enforcerd's control socket the way broken or hostile clients would, and
// checks after each case that the daemon still answers a well-formed request promptly:
// malformed JSON, unknown fields, binary garbage, an oversized line, half-written messages (one
// closed, one left open), a client that sends a flood of requests and never reads, and 200
// clients at once. Usage: control_abuse SOCKET_PATH. Exit 0 when every case holds.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::string g_path;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "FAIL: %s\n", what.c_str());
  std::exit(1);
}

void log(const std::string& what) {
  std::printf("ok: %s\n", what.c_str());
}

int connect_socket() {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(std::string("socket: ") + std::strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, g_path.c_str(), sizeof addr.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    fail("connect " + g_path + ": " + std::strerror(errno));
  }
  return fd;
}

void send_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(std::string("send: ") + std::strerror(errno));
    }
    off += static_cast<std::size_t>(n);
  }
}

// One line, or "" at EOF. Fails after `timeout`.
std::string read_line(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char c;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) fail("no response within " + std::to_string(timeout.count()) + " ms");
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = recv(fd, &c, 1, 0);
    if (n == 0) return line;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      if (errno == ECONNRESET) return line;
      fail(std::string("recv: ") + std::strerror(errno));
    }
    if (c == '\n') return line;
    line += c;
  }
}

nlohmann::json request(int fd, const std::string& line) {
  send_all(fd, line + "\n");
  const std::string response = read_line(fd);
  try {
    return nlohmann::json::parse(response);
  } catch (const std::exception& e) {
    fail("response is not JSON: '" + response + "': " + e.what());
  }
}

std::string error_code(const nlohmann::json& r) {
  if (r.value("ok", true)) return "";
  return r["error"].value("code", "?");
}

// The daemon still answers status, within a second.
void still_serving(const std::string& after) {
  const auto start = std::chrono::steady_clock::now();
  const int fd = connect_socket();
  const auto r = request(fd, R"({"v":1,"cmd":"status"})");
  close(fd);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  if (!r.value("ok", false)) fail("after " + after + ": status failed: " + r.dump());
  if (ms > 1000) fail("after " + after + ": status took " + std::to_string(ms) + " ms");
  log("after " + after + ": status answered in " + std::to_string(ms) + " ms");
}

void expect_code(int fd, const std::string& line, const std::string& code,
                 const std::string& what) {
  const auto r = request(fd, line);
  if (error_code(r) != code) fail(what + ": expected error " + code + ", got " + r.dump());
  log(what + ": " + code + " (" + r["error"].value("message", "") + ")");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: control_abuse SOCKET_PATH\n");
    return 2;
  }
  g_path = argv[1];

  // Malformed requests get an error each, and the same connection goes on working.
  {
    const int fd = connect_socket();
    expect_code(fd, "{", "bad_request", "truncated JSON");
    expect_code(fd, "[1,2,3]", "bad_request", "not an object");
    expect_code(fd, R"({"v":1,"cmd":"status","colour":"blue"})", "bad_request", "unknown field");
    expect_code(fd, R"({"v":2,"cmd":"status"})", "unsupported_version", "version 2");
    expect_code(fd, R"({"v":1,"cmd":"format-disk"})", "unknown_command", "unknown command");
    expect_code(fd, std::string("\x01\x02\xff\xfe{\0}", 7), "bad_request", "binary garbage");
    expect_code(fd, std::string(100000, '[').substr(0, 60000), "bad_request", "deep nesting");
    expect_code(fd, R"({"v":1,"cmd":"show","experiment":"nope"})", "unknown_experiment",
                "unknown experiment");
    const auto ok = request(fd, R"({"v":1,"cmd":"version","id":7})");
    if (!ok.value("ok", false) || ok.value("id", 0) != 7)
      fail("version after errors: " + ok.dump());
    log("the same connection still answers after 8 bad requests");
    close(fd);
  }
  still_serving("malformed requests");

  // An oversized line: too_large, then the connection is closed.
  {
    const int fd = connect_socket();
    std::string big = R"({"v":1,"cmd":"status","id":")" + std::string(200000, 'x') + "\"}\n";
    // The daemon may close before reading it all: ignore send errors past the first 64 KiB.
    std::size_t off = 0;
    while (off < big.size()) {
      const ssize_t n = send(fd, big.data() + off, big.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    const std::string line = read_line(fd);
    if (line.find("too_large") == std::string::npos) fail("oversized line: got '" + line + "'");
    if (!read_line(fd).empty()) fail("oversized line: the connection stayed open");
    log("a 200 kB line: too_large, connection closed");
    close(fd);
  }
  still_serving("an oversized line");

  // Half-written messages: one closed mid-line, one left hanging (open for the rest of the run).
  {
    const int fd = connect_socket();
    send_all(fd, R"({"v":1,"cmd":"sta)");
    close(fd);
  }
  const int hanging = connect_socket();
  send_all(hanging, R"({"v":1,"cmd":"override.set","experiment":"a","resou)");
  still_serving("half-written messages");

  // A client that floods requests and never reads: its responses fill the socket buffers; the
  // daemon must keep serving everyone else meanwhile (and drop that client after its timeout).
  const int greedy = connect_socket();
  {
    fcntl(greedy, F_SETFL, O_NONBLOCK);
    const std::string req = R"({"v":1,"cmd":"status"})"
                            "\n";
    std::size_t sent = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (std::chrono::steady_clock::now() < until) {
      const ssize_t n = send(greedy, req.data(), req.size(), MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0) break;
      sent += static_cast<std::size_t>(n);
    }
    log("a client sent " + std::to_string(sent / req.size()) + " requests and reads nothing");
  }
  still_serving("a client that never reads");

  // 200 clients at once, each with a request in flight before any response is read.
  {
    constexpr int kClients = 200;
    std::vector<int> fds;
    for (int i = 0; i < kClients; ++i) fds.push_back(connect_socket());
    for (int i = 0; i < kClients; ++i) {
      send_all(fds[i], R"({"v":1,"cmd":"status","id":)" + std::to_string(i) + "}\n");
    }
    for (int i = 0; i < kClients; ++i) {
      const std::string line = read_line(fds[i], std::chrono::seconds(20));
      const auto r = nlohmann::json::parse(line, nullptr, false);
      if (r.is_discarded() || !r.value("ok", false) || r.value("id", -1) != i) {
        fail("client " + std::to_string(i) + " of 200: " + line);
      }
    }
    for (int fd : fds) close(fd);
    log("200 concurrent clients each got their own answer");
  }
  still_serving("200 concurrent clients");
  close(greedy);
  close(hanging);
  std::printf("PASS\n");
  return 0;
}
