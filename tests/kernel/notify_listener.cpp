// Stands in for systemd's notification socket: binds a Unix datagram socket at PATH and prints
// every message it receives (newlines shown as '|') with the time it came, for SECONDS.
// Usage: notify_listener PATH SECONDS
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: notify_listener PATH SECONDS\n");
    return 2;
  }
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
  unlink(argv[1]);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::fprintf(stderr, "notify_listener: bind %s: %s\n", argv[1], std::strerror(errno));
    return 1;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::seconds(std::atoi(argv[2]));
  char buf[4096];
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) continue;
    std::string msg(buf, static_cast<std::size_t>(n));
    for (char& c : msg) {
      if (c == '\n') c = '|';
    }
    const double t =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%.3f %s\n", t, msg.c_str());
  }
  unlink(argv[1]);
  return 0;
}
