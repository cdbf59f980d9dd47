// What the two files of overrides share (overrides.cpp, overrides_file.cpp). Private to
// lib/control/.
#pragma once

#include "control/overrides.hpp"

namespace enforcer::overrides_detail {

// An override without an expiry, or whose expiry is still ahead, is in force.
inline bool live(const Override& o, WallClock::time_point now) {
  return !o.expires || *o.expires > now;
}

}  // namespace enforcer::overrides_detail
