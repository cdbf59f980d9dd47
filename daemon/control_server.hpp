// The control socket: a Unix stream socket served on the daemon's Asio loop, one coroutine per
// client, newline-delimited JSON (lib/control/control_protocol.hpp).
//
// Who may do what is decided from the peer's credentials (SO_PEERCRED, SO_PEERGROUPS), not from
// anything it sends: uid 0 may do everything; a member of `control_group` may read; anyone else
// is refused. The file system says the same first: the socket is 0660 root:group in a directory
// the daemon makes 0750 root:group.
//
// A client cannot hurt the others or the loop: a request line is at most kMaxRequestBytes (a
// longer one gets "too_large" and the connection is closed), a client that sends nothing for
// kIdleTimeout or does not read its response within kWriteTimeout is disconnected, and at most
// kMaxClients are served at once (more are told "busy" and closed), of which a uid other than root
// holds at most kMaxClientsPerUid and the last kRootReserved are root's
// (lib/control/client_slots.hpp). Readers (every uid but root) together get at most kReaderShare of
// the loop's time; their requests wait beyond it, in arrival order (reader_queue.hpp), so the tick
// and root's changes keep the rest.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/expected.hpp"
#include "control/client_slots.hpp"
#include "control/control_protocol.hpp"
#include "reader_queue.hpp"

namespace enforcer {

struct Peer {
  std::uint32_t uid = 0;
  std::int32_t pid = 0;
  bool may_change = false;  // root
};

// Handles one parsed request from an authorised peer; returns the response line.
using ControlHandler = std::function<std::string(const Request&, const Peer&)>;

class ControlServer {
 public:
  static constexpr std::chrono::seconds kIdleTimeout{60};
  static constexpr std::chrono::seconds kWriteTimeout{10};
  static constexpr std::size_t kMaxClients = 1024;
  static constexpr std::size_t kRootReserved = 64;
  static constexpr std::size_t kMaxClientsPerUid = 64;
  static constexpr double kReaderShare = 0.25;
  static constexpr std::chrono::milliseconds kReaderBurst{200};

  // Makes the socket's directory when missing (0750 root:group), replaces a stale socket (one
  // that nobody answers on), binds, sets 0660 root:group and starts accepting. `group` may be
  // empty (root only); a group that does not exist is a warning and means root only.
  static Expected<std::unique_ptr<ControlServer>> create(boost::asio::io_context& io,
                                                         const std::string& path,
                                                         const std::string& group,
                                                         ControlHandler handler);
  ~ControlServer();  // stops accepting and removes the socket file

  std::size_t clients() const { return slots_->in_use(); }

 private:
  ControlServer(boost::asio::io_context& io, std::string path, gid_t gid, bool have_group,
                ControlHandler handler);
  void accept();

  boost::asio::io_context& io_;
  std::string path_;
  gid_t gid_;
  bool have_group_;
  ControlHandler handler_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::shared_ptr<ClientSlots> slots_ =
      std::make_shared<ClientSlots>(kMaxClients, kRootReserved, kMaxClientsPerUid);
  std::shared_ptr<ReaderQueue> readers_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace enforcer
