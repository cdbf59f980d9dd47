// network.interfaces = ["auto"]: the uplink is the interface that holds the host's own address
// (epoxy.ipv4=), found in an RTM_GETADDR dump at start and again every tick. M-Lab's interface
// names can change between boots and the address cannot, so the address is what the operator
// configures; if it moves to another interface, enforcement moves with it within a tick.
#pragma once

#include <string>

#include "base/address.hpp"
#include "base/expected.hpp"

namespace enforcer {

class BpfDatapath;

class UplinkFollower {
 public:
  explicit UplinkFollower(Prefix address) : address_(address) {}

  // The interface that holds the address now; an error when none does or the dump fails.
  Expected<std::string> locate() const;
  // Once per tick: when the address is on an interface other than the uplink, moves the
  // datapath there (the new one attached before the old one is left) and logs it. An address on
  // no interface is reported once, and enforcement stays on the uplink it is on; a move that
  // fails is reported once per target and tried again next tick.
  void follow(BpfDatapath& datapath);

 private:
  Prefix address_;
  bool lost_ = false;        // reported: no interface holds the address
  std::string failed_move_;  // reported: moving to this interface failed
};

}  // namespace enforcer
