#include "control/client_slots.hpp"

#include <fmt/format.h>

namespace enforcer {

std::string ClientSlots::take(std::uint32_t uid) {
  if (uid == 0) {
    if (in_use_ >= total_) return fmt::format("busy: all {} client slots are taken", total_);
    ++in_use_;
    return {};
  }
  const std::size_t open_to_all = total_ > root_reserved_ ? total_ - root_reserved_ : 0;
  if (in_use_ >= open_to_all) {
    return fmt::format("busy: {} clients are connected; the last {} slots are kept for root",
                       in_use_, root_reserved_);
  }
  std::size_t& mine = held_[uid];
  if (mine >= per_uid_) {
    return fmt::format("busy: uid {} already holds {} connections, the most one uid may", uid,
                       mine);
  }
  ++mine;
  ++in_use_;
  return {};
}

void ClientSlots::release(std::uint32_t uid) {
  if (in_use_ > 0) --in_use_;
  if (uid == 0) return;
  auto it = held_.find(uid);
  if (it == held_.end()) return;
  if (--it->second == 0) held_.erase(it);
}

std::size_t ClientSlots::held_by(std::uint32_t uid) const {
  if (uid == 0) return 0;
  auto it = held_.find(uid);
  return it == held_.end() ? 0 : it->second;
}

}  // namespace enforcer
