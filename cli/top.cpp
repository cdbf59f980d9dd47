#include "top.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "format.hpp"
#include "request.hpp"

namespace enforcer::ctl {
namespace {

volatile std::sig_atomic_t g_quit = 0;
volatile std::sig_atomic_t g_resized = 0;

extern "C" void on_quit_signal(int /*sig*/) {
  g_quit = 1;
}
extern "C" void on_winch(int /*sig*/) {
  g_resized = 1;
}

void write_all(std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::write(STDOUT_FILENO, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Raw keyboard input (no echo, no line buffering, Ctrl-C as a key), the alternate screen and a
// hidden cursor for as long as it lives; quit signals set g_quit instead of killing us, so that
// the destructor always runs. Copy and move deleted.
class TerminalSession {
 public:
  TerminalSession() {
    keyboard_ = ::isatty(STDIN_FILENO) == 1 && ::tcgetattr(STDIN_FILENO, &saved_) == 0;
    if (keyboard_) {
      termios raw = saved_;
      raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | ISIG | IEXTEN);
      raw.c_iflag &= ~static_cast<tcflag_t>(IXON | ICRNL);
      raw.c_cc[VMIN] = 1;
      raw.c_cc[VTIME] = 0;
      ::tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    struct sigaction sa {};
    sa.sa_handler = on_quit_signal;  // no SA_RESTART: poll() returns EINTR at once
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::sigaction(sig, &sa, &saved_actions_[sig]);
    sa.sa_handler = on_winch;
    ::sigaction(SIGWINCH, &sa, &saved_actions_[SIGWINCH]);
    write_all("\033[?1049h\033[?25l\033[H\033[2J");
  }
  ~TerminalSession() {
    write_all("\033[0m\033[?25h\033[?1049l");
    if (keyboard_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH}) {
      ::sigaction(sig, &saved_actions_[sig], nullptr);
    }
  }
  TerminalSession(const TerminalSession&) = delete;
  TerminalSession& operator=(const TerminalSession&) = delete;
  TerminalSession(TerminalSession&&) = delete;
  TerminalSession& operator=(TerminalSession&&) = delete;

  bool keyboard() const { return keyboard_; }

 private:
  bool keyboard_ = false;
  termios saved_{};
  struct sigaction saved_actions_[NSIG] {};
};

struct Size {
  std::size_t rows = 24;
  std::size_t cols = 80;
};

Size terminal_size() {
  winsize ws{};
  Size s;
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
    s.rows = ws.ws_row;
    s.cols = ws.ws_col;
  }
  return s;
}

// One screenful: the lines cut to the terminal's width and height, THROTTLED rows in bold.
std::string render_frame(const std::vector<std::string>& lines, Size size) {
  std::string out = "\033[H";
  const std::size_t n = std::min(lines.size(), size.rows);
  for (std::size_t i = 0; i < n; ++i) {
    std::string line = lines[i].substr(0, size.cols);
    const bool bold =
        line.find("THROTTLED") != std::string::npos && line.rfind("EXPERIMENT", 0) != 0;
    if (bold) out += "\033[1m";
    out += line;
    if (bold) out += "\033[0m";
    out += "\033[K";
    if (i + 1 < n) out += '\n';  // OPOST stays on: the terminal adds the '\r'
  }
  out += "\033[J";
  return out;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// Asks for the status and returns the screen's lines and the daemon's tick (0 when unknown).
std::vector<std::string> fetch_frame(ControlClient& client, std::chrono::nanoseconds& tick) {
  const std::int64_t now = std::time(nullptr);
  auto line = client.exchange(request_line(make_request("status")));
  if (!line) {
    return {fmt::format("enforcerctl top  {}  (q to quit)", rfc3339_utc(now)), "",
            "daemon unreachable: " + line.error().message, "retrying..."};
  }
  const json response = json::parse(*line, nullptr, false);
  if (!response.is_object()) {
    return {fmt::format("enforcerctl top  {}  (q to quit)", rfc3339_utc(now)), "",
            "the daemon sent a response that is not a JSON object"};
  }
  auto ok = response.find("ok");
  auto result = response.find("result");
  if (ok == response.end() || !ok->is_boolean() || !ok->get<bool>() || result == response.end()) {
    auto error = response.find("error");
    return {fmt::format("enforcerctl top  {}  (q to quit)", rfc3339_utc(now)), "",
            "the daemon refused: " +
                (error != response.end() ? format_error(*error) : std::string("no error given"))};
  }
  if (auto t = result->find("tick_ns"); t != result->end() && t->is_number_unsigned()) {
    tick = std::chrono::nanoseconds(static_cast<std::int64_t>(t->get<std::uint64_t>()));
  }
  std::vector<std::string> lines{format_top_header(*result, now), ""};
  for (auto& l : split_lines(format_status(*result))) lines.push_back(std::move(l));
  return lines;
}

}  // namespace

std::chrono::milliseconds top_refresh_interval(std::chrono::nanoseconds tick) {
  using namespace std::chrono_literals;
  if (tick.count() <= 0) return 1000ms;
  return std::clamp(std::chrono::ceil<std::chrono::milliseconds>(tick),
                    std::chrono::milliseconds(100), std::chrono::milliseconds(2000));
}

int run_top(ControlClient& client) {
  if (::isatty(STDOUT_FILENO) != 1) {
    std::fputs(
        "enforcerctl top: standard output is not a terminal; use `enforcerctl status` (or "
        "`status --json`) in scripts\n",
        stderr);
    return 2;
  }
  using Clock = std::chrono::steady_clock;
  g_quit = 0;
  g_resized = 0;
  TerminalSession session;
  std::vector<std::string> frame;
  std::chrono::nanoseconds tick{0};
  auto next = Clock::now();
  while (g_quit == 0) {
    if (Clock::now() >= next) {
      const auto started = Clock::now();
      frame = fetch_frame(client, tick);
      write_all(render_frame(frame, terminal_size()));
      next = started + top_refresh_interval(tick);
    }
    if (g_resized != 0) {
      g_resized = 0;
      write_all("\033[2J" + render_frame(frame, terminal_size()));
    }
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now());
    pollfd p{STDIN_FILENO, POLLIN, 0};
    const int rc = ::poll(&p, session.keyboard() ? 1 : 0,
                          static_cast<int>(std::max<std::int64_t>(wait.count(), 0)));
    if (rc <= 0 || (p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    char keys[64];
    const ssize_t n = ::read(STDIN_FILENO, keys, sizeof(keys));
    if (n == 0) break;  // the terminal went away
    for (ssize_t i = 0; i < n; ++i) {
      const char k = keys[i];
      if (k == 'q' || k == 'Q' || k == 3 /* Ctrl-C */ || k == 4 /* Ctrl-D */) g_quit = 1;
      if (k == ' ' || k == 'r' || k == 12 /* Ctrl-L */) next = Clock::now();
    }
  }
  return 0;
}

}  // namespace enforcer::ctl
