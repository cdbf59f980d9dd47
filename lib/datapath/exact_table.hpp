// The layout of the exact-address table (map addr_exact, bpf/enforcer_abi.h), kept by the daemon
// as a mirror of the half the programs search: where an address goes, what a removal leaves, and
// a fresh layout when removed slots pile up. Pure logic: BpfDatapath (bpf_exact.cpp) writes what
// this decides into the map.
//
// Why a reader on another CPU never sees an update half done. The programs read the active half's
// index once per packet, and in a slot its id before its address (with a compiler barrier); the
// daemon writes with aligned 32-bit stores, a slot's address before its id:
//  - An address is added in the first empty slot of its window (or in its own slot, when it had
//    one): the address words are stored first, the id last (a release store). A reader that sees
//    the id sees the address on x86-64, which orders stores with stores and loads with loads; one
//    that sees the slot still empty stops there and the packet is counted as it would have been a
//    moment before the update. On a weakly ordered CPU (arm64) the reader's loads may pass each
//    other: it could pair the new id with the slot's earlier contents, which for an empty slot are
//    all zero (family 0 never matches; a family read new with an address read old matches only
//    0.0.0.0 or ::), for the nanoseconds of the race. Closing that needs load-acquire in the
//    programs (BPF_LOAD_ACQUIRE, kernel 6.15+), not done yet.
//  - An address that moves to another experiment, or is removed, changes one 32-bit word, its id
//    (ENFORCER_EXACT_REMOVED when removed): a reader sees the old id or the new one, both true at
//    some moment of the update.
//  - A slot never holds another address while readers use its half: a removed slot keeps its
//    address (so it can only come back to the same address) until the table is laid out afresh
//    (rebuild), which is written into the other half. The daemon waits for every reader that
//    may still be in that half (an RCU grace period: the programs run under RCU, and
//    membarrier(MEMBARRIER_CMD_GLOBAL) returns after one), writes it whole, stores the new index,
//    and waits again before it touches the old half or removes from the tries what moved into
//    the table.
// Collisions stay bounded: a window is ENFORCER_EXACT_PROBES slots, each half has at least twice
// as many slots as addresses planned for (load <= 50 %), and an address whose window is full goes
// to the LPM trie instead (correct, only slower).
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "base/address.hpp"
#include "enforcer_abi.h"

namespace enforcer {

// A full-length address as the table holds it: words in network byte order, family 4 or 6.
struct ExactKey {
  std::array<std::uint32_t, 4> addr{};
  std::uint32_t family = 0;
  auto operator<=>(const ExactKey&) const = default;
};

// The key of a full-length prefix (/32 IPv4, /128 IPv6), or none for a shorter one.
std::optional<ExactKey> exact_key(const Prefix& p);

class ExactTable {
 public:
  // A half of 2^slot_bits slots (1..31).
  explicit ExactTable(unsigned slot_bits);

  // The slot bits for `addresses` addresses at a load of at most 50 % (at least 2^4 slots).
  static unsigned bits_for(std::size_t addresses);

  unsigned slot_bits() const { return bits_; }
  std::uint32_t slot_count() const { return static_cast<std::uint32_t>(slots_.size()); }
  const std::vector<enforcer_exact_slot>& slots() const { return slots_; }

  // Where `key` goes: its own slot when it has one (attributed or removed), else the first empty
  // slot of its window; none when the window is full.
  std::optional<std::uint32_t> place(const ExactKey& key) const;
  // Whether `key`'s window holds a removed slot: a fresh layout could then give it a place.
  bool window_has_removed(const ExactKey& key) const;
  // Records `key` → `id` in `slot` (what place() returned).
  void set(std::uint32_t slot, const ExactKey& key, std::uint32_t id);
  // The slot of an attributed key, if any.
  std::optional<std::uint32_t> find(const ExactKey& key) const;
  // The key's slot now attributes nothing (ENFORCER_EXACT_REMOVED); returns the slot, if any.
  std::optional<std::uint32_t> remove(const ExactKey& key);

  std::size_t live() const { return live_; }
  std::size_t removed() const { return removed_; }
  // Removed slots fill a quarter of the half: time to lay it out afresh.
  bool wants_rebuild() const { return removed_ * 4 > slots_.size(); }
  // Every attributed key with its id.
  std::vector<std::pair<ExactKey, std::uint32_t>> entries() const;

  // A fresh layout of `entries` (no removed slots): the table, and the entries that found no slot
  // (they belong in the trie).
  static std::pair<ExactTable, std::vector<std::pair<ExactKey, std::uint32_t>>> build(
      unsigned slot_bits, const std::vector<std::pair<ExactKey, std::uint32_t>>& entries);
  // The mirror of a half read back from the map (an adopted datapath's).
  static ExactTable from_slots(unsigned slot_bits, const enforcer_exact_slot* half);

 private:
  std::uint32_t first_slot(const ExactKey& key) const;

  unsigned bits_;
  std::vector<enforcer_exact_slot> slots_;
  std::map<ExactKey, std::uint32_t> index_;  // every key with a slot, attributed or removed
  std::size_t live_ = 0;
  std::size_t removed_ = 0;
};

}  // namespace enforcer
