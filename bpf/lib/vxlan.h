/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* RFC 7348 encapsulation and decapsulation with raw header push/pop (bpf_skb_adjust_room).
 *
 * Design notes (2025, datapath owner):
 * - Raw push/pop, not tunnel keys + a collect-md vxlan device: no extra device hop; measured
 *   (round 1, TCP on the wire topology) at 1.24x the throughput of the kernel's vxlan device.
 *   The idle metadata-mode vxlan device the loader creates (src/datapath/bpf/gro.ts) exists only
 *   so the kernel's UDP-tunnel GRO, which hangs off a vxlan socket, merges VXLAN on port 4789
 *   before vx_from_ul sees it; without it every 1.5 KB segment is decapsulated alone and TCP
 *   fell to 0.66x kernel vxlan. It decapsulates nothing itself.
 * - BPF_F_ADJ_ROOM_FIXED_GSO both ways, so gso_size stays the inner MSS: without the flag
 *   adjust_room shrinks gso_size by the 50 bytes pushed (segments smaller than the overlay MTU
 *   allows) and grows it by the 50 bytes popped (segments over the container's MTU).
 * - Outer MACs: the kernel's answer. bpf_redirect_neigh(ul_ifindex, NULL) does the FIB lookup for
 *   the outer destination and resolves the next hop's MAC; works on a routed underlay too (next
 *   hop = the gateway, not the VTEP), needs no neighbour map in the agent. Its per-packet route
 *   lookup is cached for a second per CPU (lib/nbr.h): while the cache holds, the MACs go into
 *   the outer header stored below and a plain bpf_redirect sends it.
 *   Rejected: bpf_redirect_neigh with the VTEP as next hop (wrong on routed underlays) and an
 *   agent-filled neighbour map (one more thing to keep in step, stale on MAC changes).
 * - Outer IPv4: DF set (a fragmented outer would reach our TC hook before reassembly), TTL 64,
 *   checksum computed here (GSO redoes it per segment). Outer UDP checksum 0, as RFC 7348
 *   allows over IPv4 and the kernel's vxlan sends by default: a real one would cover the whole
 *   inner frame, and a GSO packet is only cut into segments after this program.
 * - Outer UDP source port: skb hash folded into 49152..65535 as the kernel's udp_flow_src_port.
 */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "abi.h"
#include "lib/parse.h"
#include "lib/csum.h"
#include "lib/nbr.h"

#define VX_SPORT_MIN 49152
#define VX_SPORT_MAX 65536	/* exclusive */

/* The 64 bytes written at the head of an encapsulated frame (outer headers + inner Ethernet),
 * built on the stack. `align` shifts the 14-byte Ethernet header so that every header after it
 * sits at its natural alignment (as NET_IP_ALIGN does for receive buffers): no packed struct,
 * no unaligned pointers. Only the bytes from `eth` on are written to the packet. */
struct vx_outer {
	__u8 align[2];
	struct ethhdr eth;
	struct iphdr ip;
	struct udphdr udp;
	struct vxlanhdr vx;
	struct ethhdr inner;
};

#define VX_OUTER_LEN (VX_ENCAP_LEN + sizeof(struct ethhdr))
_Static_assert(__builtin_offsetof(struct vx_outer, inner) + sizeof(struct ethhdr) -
	       __builtin_offsetof(struct vx_outer, eth) == VX_OUTER_LEN, "vx_outer has no holes");

static __always_inline __be16 vx_src_port(struct __sk_buff *skb)
{
	__u32 hash = bpf_get_hash_recalc(skb);

	hash ^= hash << 16;
	return bpf_htons((__u16)((((__u64)hash * (VX_SPORT_MAX - VX_SPORT_MIN)) >> 32) +
				 VX_SPORT_MIN));
}

/* Writes `len` bytes from `from` at the head of the packet by direct access: no helper call
 * (bpf_skb_store_bytes was ~100 ns per 64 B datagram). The head is ours to write after
 * bpf_skb_adjust_room (it unclones). Returns 0, or -1 when the linear area is shorter. */
static __always_inline int vx_write_head(struct __sk_buff *skb, const void *from, __u32 len)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;

	if (data + len > end)
		return -1;
	__builtin_memcpy(data, from, len);
	return 0;
}

/* Wraps the frame at skb->data (inner Ethernet `ieth`, a packet pointer) in outer
 * Ethernet/IPv4/UDP/VXLAN towards `vtep` with `vni`, sets the inner destination MAC to `dmac`,
 * and redirects it to the underlay. Returns TC_ACT_REDIRECT or a VX_DROP_* reason. Packet
 * pointers are invalid afterwards. */
static __always_inline int vx_encap_redirect(struct __sk_buff *skb, const struct vx_config *cfg,
					     const struct ethhdr *ieth, __u32 vni, __be32 vtep,
					     const __u8 *dmac)
{
	const __u64 flags = BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 |
			    BPF_F_ADJ_ROOM_ENCAP_L4_UDP | BPF_F_ADJ_ROOM_ENCAP_L2_ETH |
			    BPF_F_ADJ_ROOM_ENCAP_L2(sizeof(struct ethhdr));
	const struct vx_nbr *nbr = vx_nbr_get(vtep, cfg->ul_ifindex);
	struct vx_outer h = {};
	__u32 inner_len = skb->len;

	__builtin_memcpy(h.inner.h_source, ieth->h_source, ETH_ALEN);
	h.inner.h_proto = ieth->h_proto;
	__builtin_memcpy(h.inner.h_dest, dmac, ETH_ALEN);

	if (nbr) {
		__builtin_memcpy(h.eth.h_dest, nbr->dmac, ETH_ALEN);
		__builtin_memcpy(h.eth.h_source, nbr->smac, ETH_ALEN);
	}			/* else MACs: filled by bpf_redirect_neigh */
	h.eth.h_proto = bpf_htons(ETH_P_IP);
	h.ip.version = 4;
	h.ip.ihl = 5;
	h.ip.tot_len = bpf_htons(inner_len + sizeof(h.ip) + sizeof(h.udp) + sizeof(h.vx));
	h.ip.frag_off = bpf_htons(IP_DF);
	h.ip.ttl = 64;
	h.ip.protocol = IPPROTO_UDP;
	h.ip.saddr = cfg->vtep_ip;
	h.ip.daddr = vtep;
	h.ip.check = ipv4_hdr_csum(&h.ip);
	h.udp.source = vx_src_port(skb);
	h.udp.dest = cfg->udp_port;
	h.udp.len = bpf_htons(inner_len + sizeof(h.udp) + sizeof(h.vx));
	h.vx.flags = VX_VXLAN_FLAG_I;
	h.vx.vni_rsvd = bpf_htonl(vni << 8);

	if (bpf_skb_adjust_room(skb, VX_ENCAP_LEN, BPF_ADJ_ROOM_MAC, flags))
		return VX_DROP_ENCAP_FAILED;
	if (vx_write_head(skb, &h.eth, VX_OUTER_LEN))
		return VX_DROP_ENCAP_FAILED;
	if (nbr)
		return bpf_redirect(cfg->ul_ifindex, 0);
	vx_nbr_refresh(skb, cfg->vtep_ip, vtep, cfg->ul_ifindex);
	return bpf_redirect_neigh(cfg->ul_ifindex, NULL, 0, 0);
}

/* Strips `outer_len` bytes of outer IPv4/UDP/VXLAN + the outer Ethernet, keeping `inner` (the
 * inner Ethernet header, with its destination MAC already set) at the head, and hands the frame
 * to the container behind host veth `ifindex`: through that veth's egress (veth_xmit, one more
 * backlog pass, as routing and the bridge deliver) when `via_host_veth`, else straight into the
 * container end (bpf_redirect_peer). Returns TC_ACT_REDIRECT or a VX_DROP_* reason. */
static __always_inline int vx_decap_redirect(struct __sk_buff *skb, __u32 outer_l3_len,
					     const struct ethhdr *inner, __u32 ifindex,
					     int via_host_veth)
{
	/* adjust_room(MAC) removes bytes right after the outer Ethernet header: the outer L3/L4/VXLAN
	 * headers and the inner Ethernet header; the inner one is then written over the outer. */
	__s32 shrink = (__s32)(outer_l3_len + sizeof(struct ethhdr));

	if (bpf_skb_adjust_room(skb, -shrink, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO))
		return VX_DROP_DECAP_FAILED;
	if (vx_write_head(skb, inner, sizeof(*inner)))
		return VX_DROP_DECAP_FAILED;
	return via_host_veth ? bpf_redirect(ifindex, 0) : bpf_redirect_peer(ifindex, 0);
}
