// The kind of an interface's root qdisc ("fq", "mq", "noqueue", ...), read over rtnetlink.
// EDT pacing only works when fq (which honours skb->tstamp) is the root qdisc.
#pragma once

#include <string>

#include "expected.hpp"

namespace enforcer {

Expected<std::string> root_qdisc_kind(int ifindex);

}  // namespace enforcer
