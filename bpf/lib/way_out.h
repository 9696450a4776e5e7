/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* What an endpoint sends to an address that is no endpoint of its network: the gateway, another
 * weft network, or outside every weft network.
 *
 * Design notes (2026-12, issue 15):
 * - Isolation first: a destination in any weft subnet of the cluster (vx_subnets, not only this
 *   host's networks) other than the sender's own is dropped here (foreign_net), so nothing for
 *   another network ever reaches the host stack, whose routes would deliver it.
 * - --internal networks stop here (internal): no way out, nothing leaves the overlay.
 * - The rest goes up to the host stack (TC_ACT_OK), which routes it, and whose one nftables
 *   masquerade rule per host (src/egress/) rewrites the source to the host's address; conntrack
 *   undoes it for the replies, and a /32 route + permanent neighbour per endpoint takes them to
 *   its host veth. The frame is addressed to the gateway's MAC, not the host veth's, so the
 *   veth marked it PACKET_OTHERHOST, which ip_rcv drops: bpf_skb_change_type makes it ours.
 *   Not SNAT in BPF (yet): a BPF NAT needs its own connection table, port allocation, ICMP
 *   error rewriting and reply steering on the underlay; conntrack has all of it.
 * - Containers may reach their host's own addresses (as Docker allows): those are outside
 *   every weft subnet, so they take this path and are delivered locally, without NAT.
 */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "abi.h"
#include "maps.h"
#include "lib/parse.h"
#include "lib/stats.h"
#include "lib/gateway.h"

static __always_inline int vx_in_subnet(__be32 addr, const struct vx_net *net)
{
	__u32 mask = net->prefix_len >= 32 ? ~0u : net->prefix_len == 0 ? 0 : ~0u << (32 - net->prefix_len);

	return (addr & bpf_htonl(mask)) == net->subnet;
}

/* `c` points just past the IPv4 header. Returns TC_ACT_OK (up to the host stack),
 * TC_ACT_REDIRECT (gateway echo reply) or a VX_DROP_* reason. */
static __always_inline int vx_leave_network(struct __sk_buff *skb, struct cursor *c, struct ethhdr *eth,
					    struct iphdr *ip, const struct vx_if *src, struct vx_verdict *v)
{
	struct vx_subnet_key skey = { .prefixlen = 32, .addr = ip->daddr };
	const struct vx_config *cfg;
	const struct vx_subnet *sub;
	const struct vx_net *net;
	__u32 vni = src->vni, zero = 0;

	net = bpf_map_lookup_elem(&vx_nets, &vni);
	if (!net)
		return VX_DROP_UNKNOWN_VNI;
	if (ip->daddr == net->gateway)
		return vx_gateway_echo(skb, c, eth, ip, net, v);
	if (vx_in_subnet(ip->daddr, net))
		return VX_DROP_UNKNOWN_DST;
	sub = bpf_map_lookup_elem(&vx_subnets, &skey);
	if (sub)
		return sub->vni == vni ? VX_DROP_UNKNOWN_DST : VX_DROP_FOREIGN_NET;
	if (net->flags & VX_NET_F_INTERNAL)
		return VX_DROP_INTERNAL;
	cfg = bpf_map_lookup_elem(&vx_cfg, &zero);
	if (!cfg || !(cfg->flags & VX_CFG_F_EGRESS))
		return VX_DROP_NO_WAY_OUT;
	if (bpf_skb_change_type(skb, PACKET_HOST))
		return VX_DROP_NO_WAY_OUT;
	v->counter = VX_CTR_OUT;
	return TC_ACT_OK;
}
