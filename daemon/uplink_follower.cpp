#include "uplink_follower.hpp"

#include <net/if.h>

#include <cerrno>

#include "base/interface_addresses.hpp"
#include "base/log.hpp"
#include "datapath/bpf_datapath.hpp"

namespace enforcer {

Expected<std::string> UplinkFollower::locate() const {
  auto addresses = interface_addresses();
  if (!addresses) return addresses.error();
  for (const InterfaceAddress& a : *addresses) {
    if (a.address != address_) continue;
    char name[IF_NAMESIZE] = {};
    if (if_indextoname(static_cast<unsigned>(a.ifindex), name) == nullptr) {
      // Gone between the dump and now: the next tick looks again.
      return errno_error(errno, "the interface holding {} (ifindex {})", to_string(address_),
                         a.ifindex);
    }
    return std::string(name);
  }
  return Error{fmt::format("no interface holds the host's address {}", to_string(address_))};
}

void UplinkFollower::follow(BpfDatapath& datapath) {
  const auto uplinks = datapath.uplinks();
  if (uplinks.size() != 1) return;  // only "auto" has a follower, and it attaches one uplink
  const std::string& uplink = uplinks.front();
  auto holder = locate();
  if (!holder) {
    if (!lost_) {
      log_error("{}: enforcing on {} until it appears again", holder.error().message, uplink);
      lost_ = true;
    }
    return;
  }
  if (lost_) {
    log_info("the host's address {} is on {} again", to_string(address_), *holder);
    lost_ = false;
  }
  if (*holder == uplink) {
    failed_move_.clear();
    return;
  }
  if (auto r = datapath.move_uplink(uplink, *holder); !r) {
    if (failed_move_ != *holder) {
      log_error("the host's address {} moved from {} to {}, but enforcement cannot follow: {}",
                to_string(address_), uplink, *holder, r.error().message);
      failed_move_ = *holder;
    }
    return;
  }
  failed_move_.clear();
  log_warning("the host's address {} moved from {} to {}: enforcing on {} now", to_string(address_),
              uplink, *holder, *holder);
}

}  // namespace enforcer
