/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Every map of the datapath, one line each on what it holds and who writes it. All are pinned by
 * the loader under /sys/fs/bpf/weft/<node>/<name> so a restarted agent adopts them (live restore).
 * Names are kernel-visible: <= 15 chars, vx_ prefix. Sizes are #ifndef defaults.
 */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "abi.h"

#ifndef VX_MAX_NETS
#define VX_MAX_NETS 4096
#endif
#ifndef VX_MAX_EPS
#define VX_MAX_EPS 65536
#endif
#ifndef VX_MAX_IFS
#define VX_MAX_IFS 4096
#endif
#ifndef VX_MAX_MEMBERS
#define VX_MAX_MEMBERS 65536
#endif
#ifndef VX_MAX_SUBNETS
#define VX_MAX_SUBNETS 4096
#endif
#ifndef VX_MAX_STATS
#define VX_MAX_STATS 32768
#endif

/* vx_cfg[0]: this node's VTEP address, underlay ifindex, UDP port; agent writes at start. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vx_config);
} vx_cfg SEC(".maps");

/* vx_nets[vni]: networks present on this host (VNI filter) and their overlay MTU; agent writes. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VX_MAX_NETS);
	__type(key, __u32);
	__type(value, struct vx_net);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} vx_nets SEC(".maps");

/* vx_eps[{vni, ip}]: every endpoint of every local network, local (ifindex) or remote (vtep). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VX_MAX_EPS);
	__type(key, struct vx_ep_key);
	__type(value, struct vx_ep);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} vx_eps SEC(".maps");

/* vx_ifs[ifindex]: the local endpoint behind each host veth (source lookup on endpoint egress). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VX_MAX_IFS);
	__type(key, __u32);
	__type(value, struct vx_if);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} vx_ifs SEC(".maps");

/* vx_members[{vni, vtep}]: VTEPs admitted as outer sources for a VNI; agent writes (setMembers). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VX_MAX_MEMBERS);
	__type(key, struct vx_member_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} vx_members SEC(".maps");

/* vx_subnets[prefix]: every weft subnet of the cluster and its VNI (not only this host's
 * networks); agent writes. The way out drops what is for another network's subnet. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, VX_MAX_SUBNETS);
	__type(key, struct vx_subnet_key);
	__type(value, struct vx_subnet);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} vx_subnets SEC(".maps");

/* vx_stats[{vni, counter}]: per-CPU packets/bytes per VNI and counter or drop reason; BPF writes. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, VX_MAX_STATS);
	__type(key, struct vx_stat_key);
	__type(value, struct vx_stat);
} vx_stats SEC(".maps");

/* vx_nbr[slot]: outer MACs of recent encapsulations, per CPU, filled from bpf_fib_lookup and
 * used for at most a second (lib/nbr.h). BPF-only: no user-space reader or writer, so not part
 * of the ABI in abi.h; a slot whose vtep differs is a miss. */
#define VX_NBR_SLOTS_LOG2 8
struct vx_nbr {
	__be32 vtep;		/* VTEP this slot answers for; 0: empty */
	__u32 ifindex;		/* device the FIB chose (the underlay NIC) */
	__u8 dmac[6];		/* next hop's MAC (the VTEP's, or a gateway's) */
	__u8 smac[6];		/* the device's own */
	__u64 expires_ns;	/* bpf_ktime_get_coarse_ns() after which the kernel is asked again */
};				/* 32 bytes */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1 << VX_NBR_SLOTS_LOG2);
	__type(key, __u32);
	__type(value, struct vx_nbr);
} vx_nbr SEC(".maps");
