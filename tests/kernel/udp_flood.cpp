// The rate tests' UDP flood: a real UDP sender that offers a set rate with UDP GSO (one sendmsg
// carries up to 64 KB, cut into MTU-sized datagrams by the kernel, as a QUIC server sends), and its
// sink. iperf3 makes one syscall per datagram, which caps its UDP at 40-146 Mbit/s in the vm tier's
// emulated guest; this offers a Gbit/s there.
//
//   udp_flood send ADDRESS PORT MBIT SECONDS [SOURCE]
//                                              offer MBIT (wire bits: Ethernet, IP and UDP headers
//                                              included) to ADDRESS:PORT for SECONDS, from the
//                                              address SOURCE when given, whether this host has
//                                              it or not (IP_TRANSPARENT)
//   udp_flood sink PORT SECONDS                receive on PORT (IPv4 and IPv6) for SECONDS
//
// Each prints one summary line on stdout and exits 0; a bad argument or a failing socket call is
// an error on stderr and exit 1. A sender held back (a full socket buffer while fq paces it) sends
// less than offered: its summary says what it sent.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "udp_flood: %s\n", what.c_str());
  std::exit(1);
}

[[noreturn]] void die_errno(const std::string& what) {
  die(what + ": " + std::strerror(errno));
}

[[noreturn]] void usage() {
  die("usage: udp_flood send ADDRESS PORT MBIT SECONDS [SOURCE] | udp_flood sink PORT SECONDS");
}

double number(const char* text, const char* what, double min, double max) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !(v >= min && v <= max)) {
    die(std::string(what) + " '" + text + "' is not a number in [" + std::to_string(min) + ", " +
        std::to_string(max) + "]");
  }
  return v;
}

int parse_port(const char* text) {
  const double v = number(text, "port", 1, 65535);
  if (v != static_cast<double>(static_cast<int>(v)))
    die(std::string("port '") + text + "' is not a whole number");
  return static_cast<int>(v);
}

double now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// SIGTERM ends a flood early and still prints its summary: a test stops its flow as soon as its
// measurement window is over.
volatile std::sig_atomic_t stop_requested = 0;
void request_stop(int) {
  stop_requested = 1;
}

void sleep_until(double t) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(t);
  ts.tv_nsec = static_cast<long>((t - static_cast<double>(ts.tv_sec)) * 1e9);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR &&
         !stop_requested) {
  }
}

int send_flood(const char* address, int port, double mbit, double seconds, const char* source) {
  sockaddr_storage dst{};
  socklen_t dst_len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&dst);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&dst);
  if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    dst_len = sizeof(*v4);
  } else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    dst_len = sizeof(*v6);
  } else {
    die(std::string("'") + address + "' is not an IPv4 or IPv6 address");
  }
  const bool ipv6 = dst.ss_family == AF_INET6;
  const int fd = socket(dst.ss_family, SOCK_DGRAM, 0);
  if (fd < 0) die_errno("socket");
  if (source != nullptr) {
    sockaddr_storage src{};
    auto* s4 = reinterpret_cast<sockaddr_in*>(&src);
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&src);
    s4->sin_family = s6->sin6_family = dst.ss_family;
    if (inet_pton(dst.ss_family, source,
                  ipv6 ? static_cast<void*>(&s6->sin6_addr) : static_cast<void*>(&s4->sin_addr)) !=
        1) {
      die(std::string("source '") + source + "' is not an address of the destination's family");
    }
    // Transparent: the source need not be an address of this host (a spoofing sender's flood);
    // a free bind alone would bind, but the route lookup would refuse a foreign source.
    const int on = 1;
    if (setsockopt(fd, ipv6 ? IPPROTO_IPV6 : IPPROTO_IP, ipv6 ? IPV6_TRANSPARENT : IP_TRANSPARENT,
                   &on, sizeof(on)) != 0)
      die_errno("IP_TRANSPARENT");
    if (bind(fd, reinterpret_cast<sockaddr*>(&src), ipv6 ? sizeof(*s6) : sizeof(*s4)) != 0)
      die_errno(std::string("bind to ") + source);
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&dst), dst_len) != 0) die_errno("connect");

  // Datagrams fill the path's MTU; one send carries as many as fit in a 64 KB UDP payload.
  int mtu = 0;
  socklen_t mtu_len = sizeof(mtu);
  if (getsockopt(fd, ipv6 ? IPPROTO_IPV6 : IPPROTO_IP, ipv6 ? IPV6_MTU : IP_MTU, &mtu, &mtu_len) !=
      0) {
    die_errno("reading the path MTU");
  }
  const int ip_header = ipv6 ? 40 : 20;
  const int max_payload = 65535 - 8 - ip_header;
  const int segment = std::min(mtu - ip_header - 8, max_payload);
  if (segment < 64) die("path MTU " + std::to_string(mtu) + " is too small");
  const int per_send = std::min(64, max_payload / segment);  // the kernel's UDP_MAX_SEGMENTS
  if (setsockopt(fd, IPPROTO_UDP, UDP_SEGMENT, &segment, sizeof(segment)) != 0)
    die_errno("UDP_SEGMENT");
  std::vector<char> payload(static_cast<size_t>(segment) * static_cast<size_t>(per_send), 'x');
  const double wire_per_send = static_cast<double>(per_send) * (segment + 8 + ip_header + 14);

  // Paced in user space at the offered rate: a send is due when the wire bits before it have had
  // their time. A blocking send (fq holding the socket's buffer) only delays the next.
  const double bits_per_second = mbit * 1e6;
  const double start = now();
  const double end = start + seconds;
  uint64_t sends = 0;
  uint64_t refused = 0;
  uint64_t dropped = 0;
  struct sigaction on_term {};
  on_term.sa_handler = request_stop;  // no SA_RESTART: a blocked send returns EINTR
  sigaction(SIGTERM, &on_term, nullptr);
  for (double t = start; t < end && !stop_requested; t = now()) {
    const double due = start + static_cast<double>(sends + refused + dropped) * wire_per_send * 8 /
                                   bits_per_second;
    if (due > t) {
      sleep_until(std::min(due, end));
      continue;
    }
    if (send(fd, payload.data(), payload.size(), 0) >= 0) {
      ++sends;
    } else if (errno == ECONNREFUSED) {
      ++refused;  // an ICMP port unreachable for an earlier datagram: the sink is not up yet
    } else if (errno == ENOBUFS || errno == EAGAIN) {
      ++dropped;  // a drop before the wire (qdisc, tc); the flood goes on
    } else if (errno == EINTR) {
      continue;  // SIGTERM: the loop ends
    } else {
      die_errno("send");
    }
  }
  const double elapsed = now() - start;
  const double sent_bits = static_cast<double>(sends) * wire_per_send * 8;
  std::printf(
      "sent %llu datagrams (%llu sends of %d x %d bytes) in %.3f s: %.2f of the %.2f Mbit/s"
      " asked for (wire bits); %llu sends refused, %llu dropped before the wire\n",
      static_cast<unsigned long long>(sends * static_cast<uint64_t>(per_send)),
      static_cast<unsigned long long>(sends), per_send, segment, elapsed, sent_bits / elapsed / 1e6,
      mbit, static_cast<unsigned long long>(refused), static_cast<unsigned long long>(dropped));
  close(fd);
  return 0;
}

int sink(int port, double seconds) {
  const int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  if (fd < 0) die_errno("socket");
  const int off = 0;
  const int on = 1;
  if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) != 0) die_errno("IPV6_V6ONLY");
  // GRO: datagrams that cross as one GSO packet are read as one (the count below is of bytes).
  if (setsockopt(fd, IPPROTO_UDP, UDP_GRO, &on, sizeof(on)) != 0) die_errno("UDP_GRO");
  sockaddr_in6 any{};
  any.sin6_family = AF_INET6;
  any.sin6_addr = in6addr_any;
  any.sin6_port = htons(static_cast<uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof(any)) != 0)
    die_errno("bind to port " + std::to_string(port));
  timeval poll_every{0, 200000};
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &poll_every, sizeof(poll_every)) != 0)
    die_errno("SO_RCVTIMEO");
  std::vector<char> buffer(1 << 16);
  uint64_t bytes = 0;
  const double start = now();
  while (now() - start < seconds) {
    const ssize_t n = recv(fd, buffer.data(), buffer.size(), 0);
    if (n >= 0) {
      bytes += static_cast<uint64_t>(n);
    } else if (errno != EAGAIN && errno != EINTR) {
      die_errno("recv");
    }
  }
  std::printf("received %llu bytes of UDP payload in %.3f s\n",
              static_cast<unsigned long long>(bytes), now() - start);
  close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage();
  const std::string mode = argv[1];
  if (mode == "send" && (argc == 6 || argc == 7)) {
    return send_flood(argv[2], parse_port(argv[3]), number(argv[4], "rate (Mbit/s)", 0.001, 100000),
                      number(argv[5], "seconds", 0.001, 86400), argc == 7 ? argv[6] : nullptr);
  }
  if (mode == "sink" && argc == 4) {
    return sink(parse_port(argv[2]), number(argv[3], "seconds", 0.001, 86400));
  }
  usage();
}
