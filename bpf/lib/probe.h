/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Peer probes answered in BPF: the other half of src/probe/. A peer's prober sends VXLAN to
 * our VTEP with VX_VXLAN_FLAG_PROBE set and a struct vx_probe request (abi.h); we send it
 * straight back out of the NIC it came in on, addresses and ports swapped, as a reply. The
 * agent takes no part, so "this host's datapath answers" stays true while its agent is down
 * (killed, crash-looping, being upgraded): peers keep its endpoints. A host that is gone
 * answers nothing, and peers drop it within seconds instead of waiting out its lease.
 *
 * Design notes (2026-12, issue 12 item 4):
 * - Same checks as data: the probe's VNI must be one of ours and its outer source a member
 *   VTEP of it, else it is dropped by the usual reasons (unknown_vni, vtep_not_member). So an
 *   answer also says "this peer would accept our traffic on that VNI", and we never reflect
 *   packets for strangers.
 * - Direct packet access only, no bpf_skb_pull_data: probes are small or, for path MTU, one
 *   linear datagram; headers outside the linear area are left to vx_underlay_ingress (which
 *   then counts the packet as a drop: the prober sees a lost probe, never a wrong answer).
 * - Swapping source and destination keeps the IPv4 header checksum valid; the outer UDP
 *   checksum is 0 as for all VXLAN we send (RFC 7348 over IPv4). MACs swapped: on a routed
 *   underlay the reply goes back to the router it came from.
 */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "abi.h"
#include "maps.h"
#include "lib/parse.h"
#include "lib/stats.h"

/* Not a probe (or not a well-formed one): the underlay program goes on as for any packet. */
#define VX_NOT_PROBE (-100)

static __always_inline int vx_probe_answer(struct __sk_buff *skb, struct vx_verdict *v)
{
	struct vx_member_key mkey = {};
	const struct vx_config *cfg;
	struct vx_probe *probe;
	struct vxlanhdr *vx;
	struct udphdr *udp;
	struct ethhdr *eth;
	struct iphdr *ip;
	struct cursor c;
	__u8 mac[ETH_ALEN];
	__u32 zero = 0, vni;
	__be32 addr;
	__be16 port;
	int bad;

	cfg = bpf_map_lookup_elem(&vx_cfg, &zero);
	if (!cfg || !(cfg->flags & VX_CFG_F_VALID))
		return VX_NOT_PROBE;
	cursor_init(&c, skb);
	eth = parse_eth(&c);
	if (!eth || eth->h_proto != bpf_htons(ETH_P_IP))
		return VX_NOT_PROBE;
	ip = parse_ipv4(&c, &bad);
	if (!ip || ip->daddr != cfg->vtep_ip || ip->protocol != IPPROTO_UDP || ipv4_is_fragment(ip))
		return VX_NOT_PROBE;
	udp = parse_udp(&c);
	if (!udp || udp->dest != cfg->udp_port)
		return VX_NOT_PROBE;
	vx = parse_vxlan(&c);
	if (!vx || (vx->flags & (VX_VXLAN_FLAG_I | VX_VXLAN_FLAG_PROBE)) != (VX_VXLAN_FLAG_I | VX_VXLAN_FLAG_PROBE))
		return VX_NOT_PROBE;
	probe = c.pos;
	if ((void *)(probe + 1) > c.end || probe->magic != bpf_htonl(VX_PROBE_MAGIC) ||
	    probe->op != VX_PROBE_OP_REQUEST)
		return VX_NOT_PROBE;

	/* A probe for us: answer it, or count why not as data would be. */
	v->bytes = skb->len;
	vni = bpf_ntohl(vx->vni_rsvd) >> 8;
	if (!bpf_map_lookup_elem(&vx_nets, &vni))
		return VX_DROP_UNKNOWN_VNI;
	v->vni = vni;
	mkey.vni = vni;
	mkey.vtep = ip->saddr;
	if (!bpf_map_lookup_elem(&vx_members, &mkey))
		return VX_DROP_VTEP_NOT_MEMBER;

	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	addr = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = addr;
	port = udp->source;
	udp->source = udp->dest;
	udp->dest = port;
	udp->check = 0;
	probe->op = VX_PROBE_OP_REPLY;
	v->counter = VX_CTR_PROBE_REPLY;
	return bpf_redirect(skb->ifindex, 0);
}

/* Never called, never loaded: puts struct vx_probe into the object's BTF, where
 * test/probe/probe-abi.test.ts checks it against probeCodec (types used only inside inlined
 * helpers are not in BTF). */
__attribute__((noinline)) int vx_probe_abi_btf(struct vx_probe *probe)
{
	return probe != 0;
}
