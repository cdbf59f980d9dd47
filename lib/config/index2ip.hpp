// An experiment's addresses from its M-Lab index, the way M-Lab's index2ip CNI plugin gives a pod
// its public addresses (github.com/m-lab/index2ip, main.go: AddIndexToIP and
// Base10AdditionInBase16; examples in main_test.go). The host's own addresses come from the
// kernel command line that ePoxy writes at boot (github.com/m-lab/epoxy-images, the stage1
// templates):
//
//   epoxy.ipv4=<address>/<length>,<gateway>,<dns1>,<dns2>
//   epoxy.ipv6=<address>/<length>,<gateway>,<dns1>,<dns2>     ("epoxy.ipv6=" when v6 is off)
//
// The rule, for index N (M-Lab numbers its experiments 1 to 12: m-lab/k8s-support,
// k8s/networks/networks.jsonnet; ndt is 2):
//   IPv4  the host's address + N in the last octet: host 4.14.159.112/26, index 5 -> .117.
//         index2ip refuses N < 1 and a last octet above 255. enforcer also refuses an address
//         outside the host's subnet or on its broadcast address (index2ip would hand it out, but
//         no router delivers it to the node).
//   IPv6  the last 16-bit group of the host's address, whose hex digits M-Lab writes to match
//         the IPv4 octet in decimal, is read as a decimal number, N is added and the sum is
//         written back as hex digits: host ::9, index 2 -> ::11 (0x11, not 0xb); ::201 + 12 ->
//         ::213. A group with a hex letter is an error, and so is a sum above 7999 (index2ip reads
//         the result back as a signed 16-bit number). Also kept inside the host's subnet.
// Each experiment owns exactly the one address (a /32 and a /128), not the host's subnet.
// index2ip takes the first occurrence of a parameter; so does this. A host without IPv6 gives
// its experiments an IPv4 address only, as index2ip does.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "base/address.hpp"
#include "base/expected.hpp"

namespace enforcer {

// One of the host's addresses as epoxy.ipv4= / epoxy.ipv6= give it.
struct HostAddress {
  Prefix address;              // full length: /32 or /128
  std::uint8_t subnet_length;  // the "/<length>" of the parameter
};

struct EpoxyAddresses {
  HostAddress ipv4;
  std::optional<HostAddress> ipv6;  // none: epoxy.ipv6 is absent or empty
};

// The highest index this accepts anywhere (a last IPv4 octet cannot exceed 255).
inline constexpr std::int64_t kMaxExperimentIndex = 255;

// Finds epoxy.ipv4= (required) and epoxy.ipv6= (optional) in the text of /proc/cmdline.
// Parameters are separated by blanks; a value may be written in double quotes.
Expected<EpoxyAddresses> parse_epoxy_cmdline(std::string_view cmdline);

// The address of index `index` derived from one host address (the family of `host`).
Expected<Prefix> index_to_ipv4(const HostAddress& host, std::int64_t index);
Expected<Prefix> index_to_ipv6(const HostAddress& host, std::int64_t index);

// Both addresses of an experiment (IPv4, then IPv6 when the host has one).
Expected<std::vector<Prefix>> index_to_addresses(const EpoxyAddresses& host, std::int64_t index);

}  // namespace enforcer
