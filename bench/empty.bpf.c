// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The baseline of bench/bpf_cost: a tc program that does nothing. Its per-packet cost under
 * BPF_PROG_TEST_RUN is the harness' own cost (the test-run loop, the indirect call into the
 * JITed program); the accounting programs are compared with it.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int tc_empty(struct __sk_buff* skb) {
  return TC_ACT_UNSPEC;
}
