/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Cursor-style, bounds-checked header parsers (xdp-tutorial shape). Each parse_* checks that the
 * whole header lies before data_end, advances the cursor past it and returns a pointer to it (or
 * NULL when truncated). Pointers die at every bpf_skb_pull_data / adjust_room / change_tail: call
 * cursor_init() again after any of them.
 */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* ICMP destination-unreachable header (linux/icmp.h drags in libc headers too). */
struct icmp_unreach_hdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 unused;
	__be16 mtu;		/* next-hop MTU for code 4 (RFC 1191) */
};

#define ICMP_DEST_UNREACH 3
#define ICMP_FRAG_NEEDED 4

/* From linux/if_arp.h, which drags in libc headers that do not exist for -target bpf. */
#define ARPHRD_ETHER 1
#define ARPOP_REQUEST 1
#define ARPOP_REPLY 2

#ifndef IP_MF
#define IP_MF 0x2000
#endif
#ifndef IP_DF
#define IP_DF 0x4000
#endif
#ifndef IP_OFFSET
#define IP_OFFSET 0x1fff
#endif

struct cursor {
	void *pos;
	void *end;
};

/* ARP for Ethernet/IPv4, the only kind we answer (RFC 826 with hlen 6, plen 4). */
struct arp_eth_ipv4 {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[ETH_ALEN];
	__be32 spa;
	__u8 tha[ETH_ALEN];
	__be32 tpa;
} __attribute__((packed));

/* RFC 7348 VXLAN header. */
struct vxlanhdr {
	__u8 flags;		/* VX_VXLAN_FLAG_I */
	__u8 rsvd0[3];
	__be32 vni_rsvd;	/* VNI << 8 */
};

static __always_inline void cursor_init(struct cursor *c, struct __sk_buff *skb)
{
	c->pos = (void *)(long)skb->data;
	c->end = (void *)(long)skb->data_end;
}

static __always_inline struct ethhdr *parse_eth(struct cursor *c)
{
	struct ethhdr *eth = c->pos;

	if ((void *)(eth + 1) > c->end)
		return NULL;
	c->pos = eth + 1;
	return eth;
}

/* IPv4 header incl. options; rejects ihl < 5 by returning NULL too (callers count truncated or
 * bad_ip by looking at *bad). */
static __always_inline struct iphdr *parse_ipv4(struct cursor *c, int *bad)
{
	struct iphdr *ip = c->pos;
	__u32 hl;

	*bad = 0;
	if ((void *)(ip + 1) > c->end)
		return NULL;
	hl = ip->ihl * 4;
	if (hl < sizeof(*ip) || ip->version != 4) {
		*bad = 1;
		return NULL;
	}
	if (c->pos + hl > c->end)
		return NULL;
	c->pos += hl;
	return ip;
}

static __always_inline struct udphdr *parse_udp(struct cursor *c)
{
	struct udphdr *udp = c->pos;

	if ((void *)(udp + 1) > c->end)
		return NULL;
	c->pos = udp + 1;
	return udp;
}

static __always_inline struct vxlanhdr *parse_vxlan(struct cursor *c)
{
	struct vxlanhdr *vx = c->pos;

	if ((void *)(vx + 1) > c->end)
		return NULL;
	c->pos = vx + 1;
	return vx;
}

static __always_inline struct arp_eth_ipv4 *parse_arp(struct cursor *c)
{
	struct arp_eth_ipv4 *arp = c->pos;

	if ((void *)(arp + 1) > c->end)
		return NULL;
	c->pos = arp + 1;
	return arp;
}

static __always_inline int mac_is_multicast(const __u8 *mac)
{
	return mac[0] & 1;	/* includes broadcast */
}

static __always_inline int ipv4_is_fragment(const struct iphdr *ip)
{
	return ip->frag_off & bpf_htons(IP_MF | IP_OFFSET);
}

static __always_inline int ipv4_is_first_fragment_or_whole(const struct iphdr *ip)
{
	return !(ip->frag_off & bpf_htons(IP_OFFSET));
}
