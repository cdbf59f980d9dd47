#include "datapath/exact_table.hpp"

#include <cstring>

namespace enforcer {

std::optional<ExactKey> exact_key(const Prefix& p) {
  if (p.length != (p.v6 ? 128 : 32)) return std::nullopt;
  ExactKey key;
  key.family = p.v6 ? 6 : 4;
  std::memcpy(key.addr.data(), p.bytes.data(), p.v6 ? 16 : 4);
  return key;
}

ExactTable::ExactTable(unsigned slot_bits)
    : bits_(slot_bits), slots_(std::size_t{1} << slot_bits, enforcer_exact_slot{}) {}

unsigned ExactTable::bits_for(std::size_t addresses) {
  unsigned bits = 4;
  while (bits < 31 && (std::size_t{1} << bits) < 2 * addresses) ++bits;
  return bits;
}

std::uint32_t ExactTable::first_slot(const ExactKey& key) const {
  return enforcer_exact_hash(key.addr[0], key.addr[1], key.addr[2], key.addr[3], bits_);
}

std::optional<std::uint32_t> ExactTable::place(const ExactKey& key) const {
  if (auto it = index_.find(key); it != index_.end()) return it->second;
  const std::uint32_t mask = slot_count() - 1;
  const std::uint32_t first = first_slot(key);
  for (std::uint32_t probe = 0; probe < ENFORCER_EXACT_PROBES; ++probe) {
    const std::uint32_t slot = (first + probe) & mask;
    if (slots_[slot].id == ENFORCER_EXACT_EMPTY) return slot;
  }
  return std::nullopt;
}

bool ExactTable::window_has_removed(const ExactKey& key) const {
  const std::uint32_t mask = slot_count() - 1;
  const std::uint32_t first = first_slot(key);
  for (std::uint32_t probe = 0; probe < ENFORCER_EXACT_PROBES; ++probe) {
    if (slots_[(first + probe) & mask].id == ENFORCER_EXACT_REMOVED) return true;
  }
  return false;
}

void ExactTable::set(std::uint32_t slot, const ExactKey& key, std::uint32_t id) {
  enforcer_exact_slot& s = slots_[slot];
  if (s.id == ENFORCER_EXACT_REMOVED) --removed_;
  if (s.id == ENFORCER_EXACT_EMPTY || s.id == ENFORCER_EXACT_REMOVED) ++live_;
  std::memcpy(s.addr, key.addr.data(), sizeof s.addr);
  s.family = key.family;
  s.id = id;
  index_[key] = slot;
}

std::optional<std::uint32_t> ExactTable::find(const ExactKey& key) const {
  auto it = index_.find(key);
  if (it == index_.end() || slots_[it->second].id == ENFORCER_EXACT_REMOVED) return std::nullopt;
  return it->second;
}

std::optional<std::uint32_t> ExactTable::remove(const ExactKey& key) {
  auto slot = find(key);
  if (!slot) return std::nullopt;
  slots_[*slot].id = ENFORCER_EXACT_REMOVED;
  --live_;
  ++removed_;
  return slot;
}

std::vector<std::pair<ExactKey, std::uint32_t>> ExactTable::entries() const {
  std::vector<std::pair<ExactKey, std::uint32_t>> out;
  for (const auto& [key, slot] : index_) {
    if (slots_[slot].id != ENFORCER_EXACT_REMOVED) out.emplace_back(key, slots_[slot].id);
  }
  return out;
}

std::pair<ExactTable, std::vector<std::pair<ExactKey, std::uint32_t>>> ExactTable::build(
    unsigned slot_bits, const std::vector<std::pair<ExactKey, std::uint32_t>>& entries) {
  ExactTable table(slot_bits);
  std::vector<std::pair<ExactKey, std::uint32_t>> overflow;
  for (const auto& [key, id] : entries) {
    if (auto slot = table.place(key)) {
      table.set(*slot, key, id);
    } else {
      overflow.emplace_back(key, id);
    }
  }
  return {std::move(table), std::move(overflow)};
}

ExactTable ExactTable::from_slots(unsigned slot_bits, const enforcer_exact_slot* half) {
  ExactTable table(slot_bits);
  for (std::uint32_t slot = 0; slot < table.slot_count(); ++slot) {
    const enforcer_exact_slot& s = half[slot];
    if (s.id == ENFORCER_EXACT_EMPTY) continue;
    ExactKey key;
    std::memcpy(key.addr.data(), s.addr, sizeof s.addr);
    key.family = s.family;
    table.slots_[slot] = s;
    table.index_[key] = slot;
    if (s.id == ENFORCER_EXACT_REMOVED) {
      ++table.removed_;
    } else {
      ++table.live_;
    }
  }
  return table;
}

}  // namespace enforcer
