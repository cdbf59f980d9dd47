// The uplinks' tc filters: attaching them (with the clsact qdisc), keeping them right every tick
// (refresh), and detaching them; one reconciler, reconcile_hooks, puts every filter in place.
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <net/if.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <tuple>

#include "account.skel.h"
#include "base/log.hpp"
#include "base/text.hpp"
#include "datapath/bpf_datapath.hpp"
#include "datapath/bpf_internal.hpp"

namespace enforcer {

namespace {

// Both hooks at once: the clsact qdisc itself.
bpf_tc_hook clsact_hook(int ifindex) {
  return tc_hook(ifindex, static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
}

}  // namespace

bpf_tc_hook tc_hook(int ifindex, bpf_tc_attach_point point) {
  bpf_tc_hook hook{};
  hook.sz = sizeof hook;
  hook.ifindex = ifindex;
  hook.attach_point = point;
  return hook;
}

bpf_tc_opts tc_opts(int prog_fd) {
  bpf_tc_opts opts{};
  opts.sz = sizeof opts;
  opts.handle = kTcHandle;
  opts.priority = kTcPriority;
  opts.prog_fd = prog_fd;
  return opts;
}

std::uint32_t attached_prog_id(int ifindex, bpf_tc_attach_point point) {
  QuietLibbpf quiet;  // "no such qdisc/filter" is the common answer
  bpf_tc_hook hook = tc_hook(ifindex, point);
  bpf_tc_opts opts = tc_opts();
  if (bpf_tc_query(&hook, &opts) != 0) return 0;
  return opts.prog_id;
}

bool BpfDatapath::wants_edt(const EgressQdisc& qdisc) const {
  // Timestamps only pace where fq reads them; under "edt" an uplink that lost its fq is policed
  // until fq returns (refresh() says so) rather than left unenforced.
  switch (options_.enforcement) {
    case Enforcement::kAuto:
    case Enforcement::kEdt:
      return qdisc.paces();
    case Enforcement::kPolice:
      return false;
  }
  return false;
}

Expected<void> BpfDatapath::attach(const std::string& interface, HookPass pass) {
  Attachment a;
  a.interface = interface;
  a.ifindex = static_cast<int>(if_nametoindex(interface.c_str()));
  if (a.ifindex == 0) {
    return Error{fmt::format("uplink interface \"{}\" does not exist", interface)};
  }
  bpf_tc_hook hook = clsact_hook(a.ifindex);
  const int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) {
    return Error{
        fmt::format("interface {}: cannot add the clsact qdisc: {}{}", interface, errno_text(err),
                    err == -ENOENT ? " (is the sch_ingress module loaded?)" : ""),
        -err};
  }
  a.created_clsact = err == 0;

  auto qdisc = egress_qdisc(a.ifindex);
  if (!qdisc) return Error{fmt::format("interface {}: {}", interface, qdisc.error().message)};
  if (options_.enforcement == Enforcement::kEdt && !qdisc->paces()) {
    if (a.created_clsact) {
      bpf_tc_hook h = clsact_hook(a.ifindex);
      bpf_tc_hook_destroy(&h);
    }
    return Error{
        fmt::format("interface {}: enforcement = \"edt\" needs fq as the root qdisc or on "
                    "every queue under mq, found \"{}\" (use \"auto\" or \"police\", or "
                    "add fq)",
                    interface, qdisc->describe())};
  }
  a.egress_edt = wants_edt(*qdisc);
  attachments_.push_back(a);
  Attachment& at = attachments_.back();
  if (auto r = reconcile_hooks(at, *qdisc, at.egress_edt, pass); !r) return r;
  log_info(
      "attached to {} (tc clsact, handle {:#x}, priority {}; root qdisc {}: egress {}, "
      "ingress policed)",
      interface, kTcHandle, kTcPriority, qdisc->describe(),
      at.egress_edt ? "paced (EDT)" : "policed");
  return {};
}

Expected<void> BpfDatapath::refresh() {
  std::string errors;
  for (auto& a : attachments_) {
    if (auto r = refresh_one(a); !r) {
      errors += (errors.empty() ? "" : "; ") + r.error().message;
    }
  }
  if (!errors.empty()) return Error{errors};
  return {};
}

Expected<void> BpfDatapath::refresh_one(Attachment& a) {
  const auto ifindex = static_cast<int>(if_nametoindex(a.interface.c_str()));
  if (ifindex == 0) {
    if (!a.missing) {
      log_error("uplink {} is gone: its traffic is neither counted nor limited until it returns",
                a.interface);
      a.missing = true;
    }
    a.egress_attached = a.ingress_attached = false;
    a.created_clsact = false;
    return {};
  }
  if (ifindex != a.ifindex || a.missing) {
    log_warning("uplink {} is back (ifindex {}): attaching again", a.interface, ifindex);
    a.ifindex = ifindex;
    a.missing = false;
    a.foreign_warned = false;
    a.egress_attached = a.ingress_attached = false;
    a.created_clsact = false;
  }

  auto qdisc = egress_qdisc(a.ifindex);
  if (!qdisc) return Error{fmt::format("interface {}: {}", a.interface, qdisc.error().message)};
  const bool was_edt = a.egress_edt;
  auto reconciled = reconcile_hooks(a, *qdisc, wants_edt(*qdisc), HookPass::kRepair);
  if (options_.enforcement == Enforcement::kEdt && was_edt && !a.egress_edt) {
    log_error(
        "interface {}: enforcement = \"edt\" but the root qdisc is now {}; policing until "
        "fq returns",
        a.interface, qdisc->describe());
  }
  return reconciled;
}

// Egress runs the EDT program when `edt`, the policing one otherwise; ingress always polices.
// kAttach: a new attachment, its clsact qdisc in place; the filters go on without looking (an
// adopted previous instance's, which create() recognised, are swapped in one step, so no packet
// passes without a program); the first error ends it. kRepair: each hook is looked at first; a
// right filter stays, a foreign one is left alone (reported once), a missing one (or a missing
// clsact qdisc) is put back, a wrong one of ours swapped in place; errors are collected. kMove:
// a new attachment looked at first as in kRepair (ours may be there from an earlier daemon); a
// foreign filter or the first error ends it.
Expected<void> BpfDatapath::reconcile_hooks(Attachment& a, const EgressQdisc& qdisc, bool edt,
                                            HookPass pass) {
  const std::uint32_t ours[] = {prog_id(Program::kEgressPolice), prog_id(Program::kEgressEdt),
                                prog_id(Program::kIngress)};
  std::string errors;
  for (auto [point, program, flag] :
       {std::tuple{BPF_TC_EGRESS, edt ? Program::kEgressEdt : Program::kEgressPolice,
                   &a.egress_attached},
        std::tuple{BPF_TC_INGRESS, Program::kIngress, &a.ingress_attached}}) {
    const char* where = point == BPF_TC_EGRESS ? "egress" : "ingress";
    std::uint32_t have = 0;
    if (pass != HookPass::kAttach) {
      have = attached_prog_id(a.ifindex, point);
      if (have == prog_id(program)) {
        *flag = true;
        if (point == BPF_TC_EGRESS) a.egress_edt = edt;
        continue;
      }
      if (have != 0 && std::find(std::begin(ours), std::end(ours), have) == std::end(ours)) {
        if (pass == HookPass::kMove) {
          return Error{fmt::format(
              "interface {}: a foreign tc {} filter (program id {}) holds enforcer's handle {:#x}",
              a.interface, where, have, kTcHandle)};
        }
        if (!a.foreign_warned) {
          log_error(
              "interface {}: a foreign tc {} filter (program id {}) took enforcer's handle "
              "{:#x}; not replacing it",
              a.interface, where, have, kTcHandle);
          a.foreign_warned = true;
        }
        *flag = false;
        continue;
      }
      if (have == 0 && pass == HookPass::kRepair) {
        // Our filter, or the whole clsact qdisc, was removed (or the uplink is new).
        bpf_tc_hook hook = clsact_hook(a.ifindex);
        if (bpf_tc_hook_create(&hook) == 0) a.created_clsact = true;
      }
    }
    bpf_tc_hook h = tc_hook(a.ifindex, point);
    bpf_tc_opts opts = tc_opts(program_fd(program));
    // An atomic swap when a filter is there.
    if (pass != HookPass::kAttach || adopted_) opts.flags = BPF_TC_F_REPLACE;
    if (int err = bpf_tc_attach(&h, &opts); err) {
      *flag = false;
      const bool held = pass == HookPass::kAttach && err == -EEXIST;
      std::string error =
          fmt::format("interface {}: cannot attach the tc {} program: {}{}", a.interface, where,
                      errno_text(err), held ? " (a filter already holds enforcer's handle)" : "");
      if (pass != HookPass::kRepair) return Error{std::move(error)};
      errors += (errors.empty() ? "" : "; ") + error;
      continue;
    }
    *flag = true;
    if (pass == HookPass::kRepair) {
      if (have == 0) {
        log_warning("interface {}: enforcer's tc {} filter was missing; attached again",
                    a.interface, where);
      } else {
        log_info("interface {}: root qdisc is now {}: egress {}", a.interface, qdisc.describe(),
                 edt ? "paced (EDT)" : "policed");
      }
    }
    if (point == BPF_TC_EGRESS) a.egress_edt = edt;
  }
  if (!errors.empty()) return Error{errors};
  return {};
}

Expected<void> BpfDatapath::move_uplink(const std::string& from, const std::string& to) {
  auto uplink = [&](const std::string& name) {
    return std::find_if(attachments_.begin(), attachments_.end(),
                        [&](const Attachment& a) { return a.interface == name; });
  };
  if (uplink(from) == attachments_.end()) return Error{fmt::format("{} is not an uplink", from)};
  if (uplink(to) != attachments_.end()) return Error{fmt::format("{} is an uplink already", to)};
  // The new uplink first: the old one keeps its programs until the new one has both.
  if (auto r = attach(to, HookPass::kMove); !r) {
    if (auto added = uplink(to); added != attachments_.end()) {
      detach_one(*added);
      attachments_.erase(added);
    }
    return r;
  }
  auto old = uplink(from);
  detach_one(*old);
  attachments_.erase(old);
  return {};
}

void BpfDatapath::detach_one(Attachment& a) {
  // The interface may have gone (or been re-created under another index) meanwhile.
  if (static_cast<int>(if_nametoindex(a.interface.c_str())) != a.ifindex) {
    log_warning("uplink {} is gone; nothing to detach there", a.interface);
    return;
  }
  for (auto [point, flag] : {std::pair{BPF_TC_EGRESS, &a.egress_attached},
                             std::pair{BPF_TC_INGRESS, &a.ingress_attached}}) {
    if (!*flag) continue;
    bpf_tc_hook h = tc_hook(a.ifindex, point);
    bpf_tc_opts opts = tc_opts();
    if (int err = bpf_tc_detach(&h, &opts); err) {
      log_warning("interface {}: cannot detach the tc program: {}", a.interface, errno_text(err));
    }
    *flag = false;
  }
  if (a.created_clsact) {
    bpf_tc_hook h = clsact_hook(a.ifindex);
    bpf_tc_hook_destroy(&h);
  }
  log_info("detached accounting from {}", a.interface);
}

void BpfDatapath::detach_all() {
  for (auto it = attachments_.rbegin(); it != attachments_.rend(); ++it) detach_one(*it);
  attachments_.clear();
}

void BpfDatapath::detach_stale(const std::vector<Leftover>& leftovers) {
  for (const Leftover& l : leftovers) {
    if (l.uplink) continue;
    bpf_tc_hook hook = tc_hook(l.ifindex, static_cast<bpf_tc_attach_point>(l.point));
    bpf_tc_opts opts = tc_opts();
    if (int err = bpf_tc_detach(&hook, &opts); err && err != -ENOENT) {
      log_warning("interface {}: cannot detach the tc {} program a previous enforcerd left: {}",
                  l.interface, l.point == BPF_TC_EGRESS ? "egress" : "ingress", errno_text(err));
      continue;
    }
    log_warning("removed the tc {} program a previous enforcerd left on {}: it is no uplink now",
                l.point == BPF_TC_EGRESS ? "egress" : "ingress", l.interface);
  }
}

}  // namespace enforcer
