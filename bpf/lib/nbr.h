/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Outer MACs for encapsulation from a short-lived per-CPU cache of the kernel's own answer.
 *
 * Why (2026-12, bench/cpu-breakdown.ts --udp): bpf_redirect_neigh does a route lookup and a
 * neighbour output for every packet (ip_route_output_key_hash_rcu + fib_table_lookup +
 * neigh_output, ~300-400 ns of a ~15 us 64 B datagram on the sending CPU). For TSO packets
 * that is nothing per segment; for small packets it is the largest helper cost we pay.
 *
 * How: the cache slot of a VTEP holds the next hop's MAC, our MAC and the device, as
 * bpf_fib_lookup(BPF_FIB_LOOKUP_OUTPUT) gave them, for VX_NBR_TTL_NS. While it holds, the
 * encapsulation writes them into the outer Ethernet header it stores anyway and sends with a
 * plain bpf_redirect. When it has expired (or the slot holds another VTEP), that one packet
 * goes by bpf_redirect_neigh as before, which keeps the kernel's neighbour state machine
 * running (a STALE entry gets used, so probed and confirmed or replaced, as for any traffic),
 * and the slot is refilled from the FIB. So the cache never knows more than the kernel did at
 * most VX_NBR_TTL_NS ago, needs nothing from the agent, and works on a routed underlay (the
 * FIB's next hop is the gateway). Unresolved next hops (NO_NEIGH) or a FIB answer for another
 * device are never cached: those packets keep going the kernel's way.
 * Rejected: an agent-written neighbour map (one more thing to keep in step: PERF-NOTES (a)).
 */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "abi.h"
#include "maps.h"

#ifndef AF_INET
#define AF_INET 2
#endif

/* How long a cached answer is used before one packet asks the kernel again. */
#define VX_NBR_TTL_NS (1000ULL * 1000 * 1000)

static __always_inline __u32 vx_nbr_slot(__be32 vtep)
{
	/* Fibonacci hashing of the address into VX_NBR_SLOTS (a power of two) */
	return (bpf_ntohl(vtep) * 2654435761u) >> (32 - VX_NBR_SLOTS_LOG2);
}

/* The cached outer MACs for `vtep` out of `ifindex`, or NULL when the kernel must be asked. */
static __always_inline const struct vx_nbr *vx_nbr_get(__be32 vtep, __u32 ifindex)
{
	__u32 slot = vx_nbr_slot(vtep);
	const struct vx_nbr *n = bpf_map_lookup_elem(&vx_nbr, &slot);

	if (!n || n->vtep != vtep || n->ifindex != ifindex)
		return NULL;
	if (bpf_ktime_get_coarse_ns() >= n->expires_ns)
		return NULL;
	return n;
}

/* Refills the slot of `vtep` from the FIB and neighbour table (nothing when they have no
 * resolved next hop on `ifindex`). The caller sends this packet by bpf_redirect_neigh. */
static __always_inline void vx_nbr_refresh(struct __sk_buff *skb, __be32 src, __be32 vtep,
					   __u32 ifindex)
{
	struct bpf_fib_lookup fib = {
		.family = AF_INET,
		.l4_protocol = IPPROTO_UDP,
		.ipv4_src = src,
		.ipv4_dst = vtep,
		.ifindex = ifindex,
	};
	__u32 slot = vx_nbr_slot(vtep);
	struct vx_nbr *n;

	if (bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT) !=
	    BPF_FIB_LKUP_RET_SUCCESS || fib.ifindex != ifindex)
		return;
	n = bpf_map_lookup_elem(&vx_nbr, &slot);
	if (!n)
		return;
	n->vtep = vtep;
	n->ifindex = ifindex;
	__builtin_memcpy(n->dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(n->smac, fib.smac, ETH_ALEN);
	n->expires_ns = bpf_ktime_get_coarse_ns() + VX_NBR_TTL_NS;
}
