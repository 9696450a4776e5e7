/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* The network's gateway address, answered in BPF on every host: its ARP (see lib/arp.h) with a
 * MAC made from the address as weft makes endpoint MACs (02:42 + the four address bytes, which
 * no endpoint has: the gateway is never handed out), and ICMP echo requests to it, turned into
 * the reply in place and sent straight back into the container. Nothing else is sent to the
 * gateway itself: it is the next hop of the containers' default route, and what is routed
 * through it is for outside the network (lib/way_out.h).
 */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "abi.h"
#include "lib/parse.h"
#include "lib/stats.h"

#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8

struct icmp_echo_hdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id;
	__be16 seq;
};

static __always_inline void vx_gateway_mac(__u8 *mac, __be32 gateway)
{
	mac[0] = 0x02;
	mac[1] = 0x42;
	__builtin_memcpy(mac + 2, &gateway, 4);
}

/* RFC 1624 incremental update of a checksum for one 16-bit word changing from `from` to `to`. */
static __always_inline void csum_replace16(__sum16 *sum, __be16 from, __be16 to)
{
	__u32 s = (__u16)~*sum + (__u16)~from + (__u16)to;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	*sum = (__sum16)~s;
}

/* `c` points just past the IPv4 header of a packet to the gateway. Returns TC_ACT_REDIRECT or a
 * VX_DROP_* reason. Swapping the two addresses leaves the IPv4 checksum as it is. */
static __always_inline int vx_gateway_echo(struct __sk_buff *skb, struct cursor *c, struct ethhdr *eth,
					   struct iphdr *ip, const struct vx_net *net, struct vx_verdict *v)
{
	struct icmp_echo_hdr *icmp;
	__be32 from = ip->saddr;

	if (ip->protocol != IPPROTO_ICMP || ipv4_is_fragment(ip))
		return VX_DROP_UNKNOWN_DST;	/* the gateway serves nothing but ping */
	icmp = c->pos;
	if ((void *)(icmp + 1) > c->end)
		return VX_DROP_TRUNCATED;
	if (icmp->type != ICMP_ECHO || icmp->code != 0)
		return VX_DROP_UNKNOWN_DST;

	icmp->type = ICMP_ECHOREPLY;
	csum_replace16(&icmp->checksum, bpf_htons(ICMP_ECHO << 8), bpf_htons(ICMP_ECHOREPLY << 8));
	ip->saddr = ip->daddr;
	ip->daddr = from;
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	vx_gateway_mac(eth->h_source, net->gateway);

	v->counter = VX_CTR_GW_ECHO;
	return bpf_redirect_peer(skb->ifindex, 0);
}
