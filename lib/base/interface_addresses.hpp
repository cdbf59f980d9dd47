// The addresses configured on a network namespace's interfaces: an RTM_GETADDR dump, and its
// parser (a pure function, so that the unit tier can feed it crafted buffers). Pod discovery reads
// a pod's namespace with it; interfaces = ["auto"] finds the uplink that holds the host's address.
#pragma once

#include <cstddef>
#include <vector>

#include "base/address.hpp"
#include "base/expected.hpp"

namespace enforcer {

struct InterfaceAddress {
  int ifindex = 0;
  Prefix address;  // full length: /32 or /128
};

// The addresses in an RTM_NEWADDR dump (a buffer of netlink messages, as recv() returns them):
// IFA_LOCAL, else IFA_ADDRESS, of each message whose scope is universe or site (loopback and
// link-local addresses are left out), with the interface holding it. Appends to `out`; returns
// false on a malformed message.
bool parse_address_dump(const void* data, std::size_t size, std::vector<InterfaceAddress>& out);

// Dumps the addresses of the namespace `sock` (a NETLINK_ROUTE socket, not yet bound) was created
// in. The socket gets a 2 s receive timeout: the kernel answers at once, and the daemon's loop
// must never hang on it.
Expected<std::vector<InterfaceAddress>> dump_interface_addresses(int sock);

// The same for the calling thread's own namespace.
Expected<std::vector<InterfaceAddress>> interface_addresses();

}  // namespace enforcer
