#include "control_server.hpp"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "base/fd.hpp"
#include "base/log.hpp"
#include "reader_queue.hpp"

namespace enforcer {

namespace {

namespace asio = boost::asio;
using asio::local::stream_protocol;

struct Session {
  explicit Session(stream_protocol::socket s)
      : socket(std::move(s)), timer(socket.get_executor()) {}
  stream_protocol::socket socket;
  asio::steady_timer timer;

  // Closes the connection unless the next read or write completes within `limit`.
  void arm(std::chrono::seconds limit) {
    timer.expires_after(limit);
    timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;  // re-armed or cancelled
      boost::system::error_code ignored;
      socket.close(ignored);
    });
  }
};

struct Credentials {
  ucred cred{};
  std::vector<gid_t> groups;
};

Expected<Credentials> peer_credentials(int fd) {
  Credentials c;
  socklen_t len = sizeof c.cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c.cred, &len) != 0) {
    return Error{fmt::format("SO_PEERCRED: {}", std::strerror(errno))};
  }
  // The peer's supplementary groups as they were when it connected.
  c.groups.resize(64);
  for (int attempt = 0; attempt < 2; ++attempt) {
    socklen_t glen = static_cast<socklen_t>(c.groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, c.groups.data(), &glen) == 0) {
      c.groups.resize(glen / sizeof(gid_t));
      return c;
    }
    if (errno != ERANGE) return Error{fmt::format("SO_PEERGROUPS: {}", std::strerror(errno))};
    c.groups.resize(glen / sizeof(gid_t) + 1);
  }
  return Error{"SO_PEERGROUPS: the group list keeps growing"};
}

asio::awaitable<void> send_and_close(std::shared_ptr<Session> s, std::string line) {
  s->arm(ControlServer::kWriteTimeout);
  boost::system::error_code ec;
  co_await asio::async_write(s->socket, asio::buffer(line),
                             asio::redirect_error(asio::use_awaitable, ec));
  s->timer.cancel();
  s->socket.close(ec);
}

asio::awaitable<void> serve(std::shared_ptr<Session> s, Peer peer, ControlHandler handler,
                            std::shared_ptr<ClientSlots> slots,
                            std::shared_ptr<ReaderQueue> readers, std::shared_ptr<bool> alive) {
  std::string buffer;
  for (;;) {
    boost::system::error_code ec;
    s->arm(ControlServer::kIdleTimeout);
    const std::size_t n = co_await asio::async_read_until(
        s->socket, asio::dynamic_buffer(buffer, kMaxRequestBytes + 1), '\n',
        asio::redirect_error(asio::use_awaitable, ec));
    std::string response;
    bool last = false;
    if (ec == asio::error::not_found) {
      // The buffer is full and holds no newline: the line is too long. The rest of it cannot be
      // told from the next request, so the connection ends here.
      response = error_response(
          ProtocolError{error_code::kTooLarge,
                        fmt::format("a request line may be at most {} bytes", kMaxRequestBytes),
                        {}});
      last = true;
    } else if (ec) {
      break;  // the client closed, or a timeout closed the socket
    } else {
      std::string line = buffer.substr(0, n - 1);
      buffer.erase(0, n);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      ParsedRequest parsed = parse_request(line);
      if (!parsed.request) {
        response = error_response(parsed.error);
      } else if (is_change(parsed.request->command) && !peer.may_change) {
        response = error_response(ProtocolError{
            error_code::kForbidden,
            fmt::format("{} changes the daemon's state: only root may do that (you are uid {})",
                        to_string(parsed.request->command), peer.uid),
            parsed.request->id});
      } else {
        // A reader waits for its turn while the readers have had their share of the loop.
        ReaderQueue* queue = peer.may_change ? nullptr : readers.get();
        if (queue) co_await queue->enter();
        // Leaves the queue however the request ends (a throwing handler included), charged what
        // it took; nothing here suspends, so a coroutine is never destroyed holding a turn.
        struct Turn {
          ReaderQueue* queue;
          ReaderBudget::Clock::time_point start = ReaderBudget::Clock::now();
          ~Turn() {
            if (queue) queue->leave(ReaderBudget::Clock::now() - start);
          }
        } turn{queue};
        if (!*alive) break;
        response = handler(*parsed.request, peer);
      }
    }
    s->arm(ControlServer::kWriteTimeout);
    co_await asio::async_write(s->socket, asio::buffer(response),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec || last) break;
  }
  s->timer.cancel();
  boost::system::error_code ignored;
  s->socket.close(ignored);
  slots->release(peer.uid);
}

// Whether something answers on the socket at `path` (another daemon serving it).
bool someone_listens(const std::string& path) {
  const Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  return connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

}  // namespace

namespace {

// The control socket's directory `dir`, which exists already, for the members of group `gid`:
// see ControlServer::create.
Expected<void> give_group_the_directory(const std::filesystem::path& dir,
                                        const std::filesystem::path& socket_name, gid_t gid) {
  namespace fs = std::filesystem;
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    return Error{fmt::format("cannot read {}: {}", dir.string(), std::strerror(errno))};
  }
  const bool group_reaches = (st.st_gid == gid && (st.st_mode & S_IXGRP)) || (st.st_mode & S_IXOTH);
  if (group_reaches) return {};
  std::error_code ec;
  bool own = st.st_uid == 0;
  for (fs::directory_iterator it(dir, ec), end; own && !ec && it != end; it.increment(ec)) {
    if (it->path().filename() != socket_name) own = false;
  }
  if (!own || ec) {
    log_warning(
        "members of control_group cannot reach the control socket: {} is {:o} uid {} gid {} and "
        "not the socket's own directory (it holds other files); give the group search permission "
        "or use a directory of its own",
        dir.string(), st.st_mode & 07777, st.st_uid, st.st_gid);
    return {};
  }
  if (chown(dir.c_str(), 0, gid) != 0 || chmod(dir.c_str(), 0750) != 0) {
    return Error{
        fmt::format("cannot set the group and mode of {}: {}", dir.string(), std::strerror(errno))};
  }
  log_info("the control socket's directory {} now 0750 root:{} (control_group)", dir.string(), gid);
  return {};
}

}  // namespace

Expected<std::unique_ptr<ControlServer>> ControlServer::create(asio::io_context& io,
                                                               const std::string& path,
                                                               const std::string& group,
                                                               ControlHandler handler) {
  namespace fs = std::filesystem;
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return Error{fmt::format("control_socket = \"{}\": a Unix socket path may be at most {} bytes",
                             path, sizeof(sockaddr_un{}.sun_path) - 1)};
  }
  gid_t gid = 0;
  bool have_group = false;
  if (!group.empty()) {
    std::vector<char> buf(16384);
    struct group g {};
    struct group* found = nullptr;
    if (getgrnam_r(group.c_str(), &g, buf.data(), buf.size(), &found) == 0 && found) {
      gid = found->gr_gid;
      have_group = true;
    } else {
      log_warning(
          "control_group \"{}\" does not exist: only root may use the control socket (create "
          "the group, e.g. `groupadd --system {}`, and restart to let its members read)",
          group, group);
    }
  }
  const fs::path dir = fs::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty() && !fs::exists(dir, ec)) {
    if (!fs::create_directories(dir, ec)) {
      return Error{fmt::format("cannot create the control socket's directory {}: {}", dir.string(),
                               ec.message())};
    }
    if (chmod(dir.c_str(), 0750) != 0 || (have_group && chown(dir.c_str(), 0, gid) != 0)) {
      return Error{
          fmt::format("cannot set the mode of {}: {}", dir.string(), std::strerror(errno))};
    }
  } else if (!dir.empty() && have_group) {
    // A directory made before the daemon started: systemd's RuntimeDirectory= makes it
    // root:root 0750, which keeps the group's members out. One that holds nothing but the socket
    // is the socket's own, and gets the group as if the daemon had made it; a shared one (/run)
    // is never changed: a warning says what keeps the members out.
    if (auto r = give_group_the_directory(dir, fs::path(path).filename(), gid); !r) {
      return r.error();
    }
  }
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Error{fmt::format("control_socket {} exists and is not a socket; remove it", path)};
    }
    if (someone_listens(path)) {
      return Error{fmt::format("another process is serving the control socket {}", path)};
    }
    unlink(path.c_str());  // left by a daemon that did not stop cleanly
  }
  std::unique_ptr<ControlServer> server(
      new ControlServer(io, path, gid, have_group, std::move(handler)));
  boost::system::error_code bec;
  auto& a = server->acceptor_;
  a.open(stream_protocol(), bec);
  if (!bec) a.bind(stream_protocol::endpoint(path), bec);
  if (!bec) a.listen(asio::socket_base::max_listen_connections, bec);
  if (bec) {
    return Error{fmt::format("cannot listen on the control socket {}: {}", path, bec.message())};
  }
  if (chmod(path.c_str(), 0660) != 0 || (have_group && chown(path.c_str(), 0, gid) != 0)) {
    return Error{fmt::format("cannot set the mode of {}: {}", path, std::strerror(errno))};
  }
  server->accept();
  return server;
}

ControlServer::ControlServer(asio::io_context& io, std::string path, gid_t gid, bool have_group,
                             ControlHandler handler)
    : io_(io),
      path_(std::move(path)),
      gid_(gid),
      have_group_(have_group),
      handler_(std::move(handler)),
      acceptor_(io),
      readers_(std::make_shared<ReaderQueue>(io.get_executor(), kReaderShare, kReaderBurst)) {}

ControlServer::~ControlServer() {
  *alive_ = false;
  boost::system::error_code ec;
  acceptor_.close(ec);
  unlink(path_.c_str());
}

void ControlServer::accept() {
  acceptor_.async_accept(
      [this, alive = alive_](const boost::system::error_code& ec, stream_protocol::socket socket) {
        if (!*alive) return;
        if (ec == asio::error::operation_aborted) return;
        if (ec) {
          // EMFILE and the like: keep serving the others; try again shortly.
          log_warning("control socket: accept: {}", ec.message());
          auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
          t->async_wait([this, t, alive](const boost::system::error_code&) {
            if (*alive) accept();
          });
          return;
        }
        auto s = std::make_shared<Session>(std::move(socket));
        auto creds = peer_credentials(s->socket.native_handle());
        Peer peer;
        std::string refusal;
        if (!creds) {
          refusal = fmt::format("cannot tell who you are: {}", creds.error().message);
        } else {
          peer.uid = creds->cred.uid;
          peer.pid = creds->cred.pid;
          peer.may_change = creds->cred.uid == 0;
          bool member = creds->cred.uid == 0;
          if (have_group_) {
            member = member || creds->cred.gid == gid_;
            for (gid_t g : creds->groups) member = member || g == gid_;
          }
          if (!member) {
            refusal = fmt::format(
                "uid {} may not use the control socket: reading needs root or "
                "membership of the control group",
                peer.uid);
          }
        }
        if (refusal.empty()) refusal = slots_->take(peer.uid);
        if (!refusal.empty()) {
          log_warning("control socket: refused pid {} uid {}: {}", peer.pid, peer.uid, refusal);
          const std::string code =
              refusal.starts_with(error_code::kBusy) ? error_code::kBusy : error_code::kForbidden;
          asio::co_spawn(io_, send_and_close(s, error_response(ProtocolError{code, refusal, {}})),
                         asio::detached);
        } else {
          asio::co_spawn(io_, serve(s, peer, handler_, slots_, readers_, alive_), asio::detached);
        }
        accept();
      });
}

}  // namespace enforcer
