/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Underlay ingress: VXLAN for the local VTEP, seen at TC ingress of the underlay NIC.
 * UDP to the VXLAN port addressed to our VTEP is ours: it is delivered only if the I flag is
 * set, the VNI is a network of this host, the outer source is a member VTEP of that VNI, the
 * inner destination is a local endpoint of that VNI and the inner source is an endpoint of that
 * VNI behind the outer source; every other such packet is dropped and counted by reason.
 * Everything else passes untouched (TC_ACT_OK): the GRO device (src/datapath/bpf/gro.ts) is
 * bound to the VTEP address and decapsulates nothing, so VXLAN to another address of this
 * host, or to the VTEP through another NIC, is never delivered either.
 * Inner ARP is dropped (inner_not_ipv4): weft hosts answer ARP locally, and external VTEPs are
 * expected to have static neighbours for weft endpoints (as Docker's overlay has).
 *
 * Delivery (2026-12, bench/reorder.ts, same runs, modes alternating; docs/PERF-NOTES.md
 * "Reordering"): inner TCP goes to the egress of the destination's host veth (bpf_redirect),
 * whose veth_xmit queues it to the container end once more, as routing and the kernel
 * datapath's bridge deliver; everything else goes straight into the container end
 * (bpf_redirect_peer, one backlog pass less). A TCP sender transmits from two CPUs (its
 * sendmsg, and softirq where ACKs are processed) and every veth hop queues to the current
 * CPU's backlog, so one flow travels in two per-CPU pipelines that race to the receiver (tcpdump
 * at each hop: reordering appears at the sender's first veth hop, in every mode). With the
 * peer redirect, the one pipeline unlike routing's, bpf had 1.25-1.95x routing's retransmits
 * on the wire underlay and up to 1.3x on the veth underlay, with 1.4-3.4x its DSACKs (spurious);
 * with the extra pass 0.6-1.7x and 0.5-1.0x, throughput unchanged within the noise. UDP and
 * ICMP senders transmit from their own context only, so they keep the shorter path (small-
 * packet pps, latency). One flow is one protocol: no flow is split between the two paths.
 */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "abi.h"
#include "maps.h"
#include "lib/parse.h"
#include "lib/stats.h"
#include "lib/vxlan.h"

/* Outer headers (max IPv4 options) + VXLAN + inner Ethernet + inner IPv4 (max options). */
#define VX_PULL_LEN (14 + 60 + 8 + 8 + 14 + 60)

/* How much of the packet must be linear for the parsing below: its own outer and inner IPv4
 * header lengths where the linear area shows them, the worst case where it does not. */
static __always_inline __u32 vx_pull_len(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 *vihl = data + sizeof(struct ethhdr);
	__u32 inner_ip, ihl;

	if ((void *)(vihl + 1) > end)
		return VX_PULL_LEN;
	ihl = (*vihl & 0xf) * 4;
	if (ihl < sizeof(struct iphdr))
		return VX_PULL_LEN;	/* not IPv4 as we parse it: the parser says so */
	inner_ip = sizeof(struct ethhdr) + ihl + 8 + 8 + sizeof(struct ethhdr);
	vihl = data + inner_ip;
	if ((void *)(vihl + 1) > end)
		return inner_ip + 60;
	ihl = (*vihl & 0xf) * 4;
	return inner_ip + (ihl < sizeof(struct iphdr) ? sizeof(struct iphdr) : ihl);
}

static __always_inline int vx_underlay_ingress(struct __sk_buff *skb, struct vx_verdict *v)
{
	struct vx_member_key mkey = {};
	struct vx_ep_key ekey = {};
	const struct vx_config *cfg;
	const struct vx_ep *ep, *src;
	struct ethhdr *eth, *ieth, inner;
	struct iphdr *ip, *iip;
	struct vxlanhdr *vx;
	struct udphdr *udp;
	struct cursor c;
	__u32 zero = 0, vni, outer_l3_len, lin, need;
	int bad;

	cfg = bpf_map_lookup_elem(&vx_cfg, &zero);
	if (!cfg || !(cfg->flags & VX_CFG_F_VALID))
		return TC_ACT_OK;

	/* Deep parsing needs the headers in the linear area. Pull only what this packet's headers
	 * need: a TSO packet from a veth has little more than its headers there (outer 50 + inner
	 * Ethernet/IPv4/TCP 66 bytes), and a fixed worst-case pull moved payload into the head of
	 * every such packet. */
	need = vx_pull_len(skb);
	lin = skb->data_end - skb->data;
	if (lin < need && skb->len > lin)
		bpf_skb_pull_data(skb, skb->len < need ? skb->len : need);

	cursor_init(&c, skb);
	eth = parse_eth(&c);
	if (!eth || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	ip = parse_ipv4(&c, &bad);
	if (!ip || ip->daddr != cfg->vtep_ip || ip->protocol != IPPROTO_UDP)
		return TC_ACT_OK;
	if (!ipv4_is_first_fragment_or_whole(ip))
		return TC_ACT_OK;	/* no UDP header to tell; the GRO device's socket gets it */
	udp = parse_udp(&c);
	if (!udp || udp->dest != cfg->udp_port)
		return TC_ACT_OK;

	/* From here on the packet is VXLAN for us: deliver it or count why not. */
	v->bytes = skb->len;
	if (ipv4_is_fragment(ip))
		return VX_DROP_OUTER_FRAG;
	vx = parse_vxlan(&c);
	if (!vx)
		return VX_DROP_TRUNCATED;
	if (!(vx->flags & VX_VXLAN_FLAG_I))
		return VX_DROP_NOT_VXLAN_FLAG;
	vni = bpf_ntohl(vx->vni_rsvd) >> 8;
	mkey.vni = vni;
	mkey.vtep = ip->saddr;
	/* One lookup per packet, not two: vx_nets is read only to tell the two drops apart. A
	 * member whose network is not set up (members may be written first) lets the packet on to
	 * the endpoint lookups, which then drop it: the datapath writes endpoints only for networks
	 * it has, and removes them before the network. */
	if (!bpf_map_lookup_elem(&vx_members, &mkey)) {
		if (!bpf_map_lookup_elem(&vx_nets, &vni))
			return VX_DROP_UNKNOWN_VNI;	/* counted under vni 0: not one of ours */
		v->vni = vni;
		return VX_DROP_VTEP_NOT_MEMBER;
	}
	v->vni = vni;

	ieth = parse_eth(&c);
	if (!ieth)
		return VX_DROP_TRUNCATED;
	if (ieth->h_proto != bpf_htons(ETH_P_IP))
		return VX_DROP_INNER_NOT_IPV4;
	iip = parse_ipv4(&c, &bad);
	if (!iip)
		return bad ? VX_DROP_BAD_IP : VX_DROP_TRUNCATED;
	ekey.vni = vni;
	ekey.ip = iip->daddr;
	ep = bpf_map_lookup_elem(&vx_eps, &ekey);
	if (!ep || !ep->ifindex)
		return VX_DROP_UNKNOWN_DST;
	/* A member VTEP speaks only for its own endpoints: the inner source must be a remote
	 * endpoint of this VNI behind the outer source (external VTEPs' endpoints are remote
	 * endpoints too). Else any member, or anyone spoofing a member's outer address, could
	 * impersonate every endpoint of the VNI. */
	ekey.ip = iip->saddr;
	src = bpf_map_lookup_elem(&vx_eps, &ekey);
	if (!src || src->ifindex || src->vtep != ip->saddr)
		return VX_DROP_INNER_SRC_SPOOF;

	outer_l3_len = (void *)ieth - (void *)ip;
	__builtin_memcpy(&inner, ieth, sizeof(inner));
	__builtin_memcpy(inner.h_dest, ep->mac, ETH_ALEN);
	v->bytes = skb->len - sizeof(struct ethhdr) - outer_l3_len;
	v->counter = VX_CTR_RX;
	/* TCP through the host veth, the rest by peer redirect: see "Delivery" at the top. */
	return vx_decap_redirect(skb, outer_l3_len, &inner, ep->ifindex,
				 iip->protocol == IPPROTO_TCP);
}
