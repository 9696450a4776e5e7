/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Per-CPU counters keyed by {vni, counter}: counter is an enum vx_counter or -drop reason.
 * Entry points fill a struct vx_verdict while processing; vx_finish() turns it into a TC verdict
 * and counts it, the only place that does either.
 */
#pragma once

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "abi.h"
#include "maps.h"

/* What one packet did, filled by the helpers, counted by vx_finish(). */
struct vx_verdict {
	__u32 vni;	/* network the packet belongs to; 0 while unknown */
	__u32 counter;	/* enum vx_counter to bump on success, 0 for none */
	__u32 bytes;	/* byte count to add (inner frame length) */
};

static __always_inline void vx_count(__u32 vni, __u32 counter, __u32 bytes)
{
	struct vx_stat_key key = { .vni = vni, .counter = counter };
	struct vx_stat *st = bpf_map_lookup_elem(&vx_stats, &key);

	if (!st) {
		struct vx_stat init = { .packets = 1, .bytes = bytes };

		/* Another CPU may create the key between lookup and update: then add to it. */
		if (!bpf_map_update_elem(&vx_stats, &key, &init, BPF_NOEXIST))
			return;
		st = bpf_map_lookup_elem(&vx_stats, &key);
		if (!st)
			return;	/* map full: counter lost, forwarding unaffected */
	}
	st->packets += 1;	/* per-CPU value: no atomics needed */
	st->bytes += bytes;
}

/* The single place a helper's result becomes a TC verdict: drops (enum vx_drop_reason) are counted under
 * their reason and shot; anything else is a TC_ACT_* value returned as is. */
static __always_inline int vx_finish(int ret, const struct vx_verdict *v)
{
	if (ret >= VX_DROP_RANGE_LO && ret <= VX_DROP_RANGE_HI) {
		vx_count(v->vni, (__u32)(-ret), v->bytes);
		return TC_ACT_SHOT;
	}
	if (v->counter && ret != TC_ACT_SHOT)
		vx_count(v->vni, v->counter, v->bytes);
	return ret;
}
