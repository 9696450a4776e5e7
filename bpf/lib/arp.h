/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* ARP responder: requests from an endpoint for an address of its own network (or its gateway) are answered in
 * place (the request becomes the reply) and sent straight back into the container, so ARP never
 * leaves the host and is never broadcast on the underlay.
 */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "abi.h"
#include "maps.h"
#include "lib/parse.h"
#include "lib/stats.h"
#include "lib/gateway.h"

/* `c` points just past `eth`. Returns TC_ACT_REDIRECT or a VX_DROP_* reason. */
static __always_inline int vx_arp_answer(struct __sk_buff *skb, struct cursor *c,
					 struct ethhdr *eth, const struct vx_if *src,
					 struct vx_verdict *v)
{
	struct arp_eth_ipv4 *arp = parse_arp(c);
	struct vx_ep_key key = {};
	const struct vx_net *net;
	struct vx_ep *ep;
	__u8 mac[ETH_ALEN];
	__be32 spa, tpa;

	if (!arp)
		return VX_DROP_TRUNCATED;
	if (arp->htype != bpf_htons(ARPHRD_ETHER) || arp->ptype != bpf_htons(ETH_P_IP) ||
	    arp->hlen != ETH_ALEN || arp->plen != 4 || arp->op != bpf_htons(ARPOP_REQUEST))
		return VX_DROP_ARP_UNANSWERED;
	tpa = arp->tpa;
	spa = arp->spa;
	if (tpa == src->ip)	/* duplicate-address probe or gratuitous ARP: nobody else owns it */
		return VX_DROP_ARP_UNANSWERED;
	key.vni = src->vni;
	key.ip = tpa;
	ep = bpf_map_lookup_elem(&vx_eps, &key);
	if (ep) {
		__builtin_memcpy(mac, ep->mac, ETH_ALEN);
	} else {
		/* the gateway (lib/gateway.h) */
		net = bpf_map_lookup_elem(&vx_nets, &key.vni);
		if (!net || tpa != net->gateway)
			return VX_DROP_ARP_UNANSWERED;
		vx_gateway_mac(mac, tpa);
	}

	arp->op = bpf_htons(ARPOP_REPLY);
	__builtin_memcpy(arp->tha, arp->sha, ETH_ALEN);
	__builtin_memcpy(arp->sha, mac, ETH_ALEN);
	arp->tpa = spa;
	arp->spa = tpa;
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);

	v->counter = VX_CTR_ARP_REPLY;
	/* Ingress of our own veth's peer = back into the requesting container (measured: works,
	 * and skips the host veth's egress path that bpf_redirect(ifindex, 0) would take). */
	return bpf_redirect_peer(skb->ifindex, 0);
}
