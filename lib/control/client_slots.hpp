// Who gets one of the control socket's client slots. Root may take one while any is free; every
// other uid leaves `root_reserved` of them free for root and holds at most `per_uid` at once. So
// read-only users, however many connections they open, can neither lock root out (an operator
// must always be able to throttle or reload) nor take every slot from one another.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace enforcer {

class ClientSlots {
 public:
  ClientSlots(std::size_t total, std::size_t root_reserved, std::size_t per_uid)
      : total_(total), root_reserved_(root_reserved), per_uid_(per_uid) {}

  // Empty when `uid` got a slot; otherwise why not, beginning with "busy".
  std::string take(std::uint32_t uid);
  // Gives back a slot `uid` took.
  void release(std::uint32_t uid);

  std::size_t in_use() const { return in_use_; }
  std::size_t held_by(std::uint32_t uid) const;

 private:
  std::size_t total_;
  std::size_t root_reserved_;
  std::size_t per_uid_;
  std::size_t in_use_ = 0;
  std::unordered_map<std::uint32_t, std::size_t> held_;  // non-root uids with a slot
};

}  // namespace enforcer
