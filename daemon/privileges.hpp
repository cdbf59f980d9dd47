#pragma once

#include "expected.hpp"

namespace enforcer {

// enforcerd needs CAP_NET_ADMIN (tc) and CAP_BPF or CAP_SYS_ADMIN (BPF programs and maps) in its
// effective set; says which are missing.
Expected<void> check_privileges();

}  // namespace enforcer
