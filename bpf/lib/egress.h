/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Endpoint egress: what a container sends, seen at TC ingress of its host-side veth.
 *
 * Design notes (2025, datapath owner):
 * - Broadcast/multicast other than ARP is dropped and counted (bum), not replicated. ARP is
 *   answered here, so IPv4 unicast never needs a flood; what is left is subnet broadcast,
 *   multicast and IPv6 ND/MLD, which the overlay (IPv4 unicast, like Docker's overlay with
 *   static FDB and no flood entry) does not carry. Head-end replication would need a
 *   neighbour map for outer MACs (bpf_clone_redirect cannot resolve them) and a clone loop per
 *   local endpoint on both sides; rejected until a use case asks for it.
 * - Oversize with DF (or a GSO packet whose segments would be oversize): ICMP frag-needed from
 *   BPF. Oversize without DF: dropped and counted (too_big). Fragmenting would need the IP
 *   output path, which a TC redirect does not take; the container's own MTU (= overlay MTU)
 *   already fragments everything it sends unless the user raised it and cleared DF.
 * - Source check: an endpoint may only send from its own IPv4 address (src_spoof).
 * - Same-host traffic: destination MAC rewritten, bpf_redirect (egress) to the destination's
 *   host veth, whose veth_xmit queues it to the container end; it never reaches the underlay.
 *   Not bpf_redirect_peer (2026-11, measured with test/perf/samehost.perf.ts): a container's
 *   TCP sender transmits from two CPUs (its own sendmsg, and softirq when ACKs arrive), and its
 *   veth queues each packet to the backlog of the CPU that sent it, so the flow is split over
 *   two backlogs. A peer redirect delivers into the receiving socket straight from that first
 *   backlog pass, which left the reordering visible to TCP: 180-230k (spurious, DSACKed) fast
 *   retransmits per 4 s vs 17-35k for the kernel datapath's bridge. Queueing once more through
 *   the destination veth (as the bridge does) brings it to 21-37k at the same throughput
 *   (17-20 Gbit/s); the extra backlog pass costs no measurable throughput here. No drops were
 *   involved (no drop counter, softnet drop or receiver prune moved). See docs/PERF-NOTES.md.
 */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "abi.h"
#include "maps.h"
#include "lib/parse.h"
#include "lib/stats.h"
#include "lib/arp.h"
#include "lib/icmp.h"
#include "lib/vxlan.h"
#include "lib/way_out.h"

/* Length of the IPv4 + L4 headers each GSO segment repeats. */
static __always_inline __u32 gso_hdr_len(struct __sk_buff *skb, const struct iphdr *ip,
					 __u32 ihl_bytes)
{
	__u8 doff = 5;

	if (ip->protocol == IPPROTO_TCP) {
		/* byte 12 of the TCP header: data offset << 4 */
		if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr) + ihl_bytes + 12, &doff, 1))
			return ihl_bytes + sizeof(struct tcphdr);
		return ihl_bytes + (doff >> 4) * 4;
	}
	return ihl_bytes + 8;	/* UDP GSO */
}

static __always_inline int vx_endpoint_egress(struct __sk_buff *skb, struct vx_verdict *v)
{
	__u32 ifindex = skb->ifindex;
	struct vx_ep_key key = {};
	const struct vx_config *cfg;
	const struct vx_net *net;
	const struct vx_ep *dst;
	const struct vx_if *src;
	struct cursor c;
	struct ethhdr *eth;
	struct iphdr *ip;
	__u32 zero = 0, ihl_bytes, l3_len;
	int bad;

	src = bpf_map_lookup_elem(&vx_ifs, &ifindex);
	if (!src)
		return VX_DROP_UNKNOWN_SRC_IF;
	v->vni = src->vni;

	cursor_init(&c, skb);
	eth = parse_eth(&c);
	if (!eth)
		return VX_DROP_TRUNCATED;
	if (eth->h_proto == bpf_htons(ETH_P_ARP))
		return vx_arp_answer(skb, &c, eth, src, v);
	if (mac_is_multicast(eth->h_dest))
		return VX_DROP_BUM;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return VX_DROP_NOT_IPV4;

	ip = parse_ipv4(&c, &bad);
	if (!ip)
		return bad ? VX_DROP_BAD_IP : VX_DROP_TRUNCATED;
	if (ip->saddr != src->ip)
		return VX_DROP_SRC_SPOOF;

	key.vni = src->vni;
	key.ip = ip->daddr;
	dst = bpf_map_lookup_elem(&vx_eps, &key);
#ifdef WEFT_TEST_IGNORE_VNI
	/* A deliberately broken build, made only by test/agent/isolation-bug.test.ts to show that
	 * the isolation check catches it: the destination is looked up in the first VNIs too, as a
	 * datapath keyed by address alone would, and sent on in the VNI where it was found. */
	for (__u32 i = 0; i < 8 && !dst; i++) {
		key.vni = 256 + i;
		dst = bpf_map_lookup_elem(&vx_eps, &key);
	}
#endif
	if (!dst)	/* the gateway, another network, or outside: see lib/way_out.h */
		return vx_leave_network(skb, &c, eth, ip, src, v);

	if (dst->ifindex == ifindex)
		return VX_DROP_LOOP;

	/* The overlay MTU holds for local traffic too: the receiving veth end has that MTU and
	 * would drop a larger frame silently. A packet no larger than the smallest MTU a network
	 * can have (ACKs, small UDP) fits whatever the network's: no vx_nets lookup for it. */
	ihl_bytes = ip->ihl * 4;
	l3_len = skb->len - sizeof(struct ethhdr);
	if (skb->gso_size || l3_len > VX_MIN_NET_MTU) {
		net = bpf_map_lookup_elem(&vx_nets, &key.vni);
		if (!net)
			return VX_DROP_UNKNOWN_VNI;
		if (skb->gso_size) {
			if (skb->gso_size + gso_hdr_len(skb, ip, ihl_bytes) > net->mtu)
				return vx_frag_needed(skb, eth, ip, ihl_bytes, net->mtu, v);
		} else if (l3_len > net->mtu) {
			if (ip->frag_off & bpf_htons(IP_DF))
				return vx_frag_needed(skb, eth, ip, ihl_bytes, net->mtu, v);
			return VX_DROP_TOO_BIG;
		}
	}

	if (dst->ifindex) {
		__builtin_memcpy(eth->h_dest, dst->mac, ETH_ALEN);
		v->counter = VX_CTR_LOCAL;
		/* Egress of the destination's host veth, not bpf_redirect_peer: see the note on
		 * local switching at the top of this file. */
		return bpf_redirect(dst->ifindex, 0);
	}

	cfg = bpf_map_lookup_elem(&vx_cfg, &zero);
	if (!cfg || !(cfg->flags & VX_CFG_F_VALID))
		return VX_DROP_NO_CONFIG;
	v->counter = VX_CTR_TX;
	return vx_encap_redirect(skb, cfg, eth, key.vni, dst->vtep, dst->mac);
}
