/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* ICMP "fragmentation needed" (type 3 code 4) built in BPF from the oversize packet itself: the
 * packet is trimmed to the reply's length and overwritten with Ethernet (addresses swapped) +
 * IPv4 (from the original destination to the sender) + ICMP (next-hop MTU = overlay MTU) + the
 * original IPv4 header and 8 payload bytes, then sent back into the sender's container.
 * Without it, a container whose MTU exceeds the overlay's stalls in a black hole: its large
 * packets vanish without any error reaching it, so path MTU discovery never shrinks them (the
 * loader gives the host veth the underlay MTU, so such frames do reach this program).
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
#include "lib/csum.h"
#include "lib/stats.h"

#define VX_ICMP_QUOTE_MAX (60 + 8)	/* largest IPv4 header + 64 bits of payload */

/* Built on the stack; `align` puts the headers after the 14-byte Ethernet header at their
 * natural alignment (no packed struct, no unaligned pointers). The reply starts at `eth`. */
struct vx_icmp_reply {
	__u8 align[2];
	struct ethhdr eth;
	struct iphdr ip;
	struct icmp_unreach_hdr icmp;
	__u8 quote[VX_ICMP_QUOTE_MAX];
};

#define VX_ICMP_REPLY_MAX (sizeof(struct vx_icmp_reply) - __builtin_offsetof(struct vx_icmp_reply, eth))

/* `ihl_bytes` is the original IPv4 header length (20..60). Returns TC_ACT_REDIRECT or a
 * VX_DROP_* reason; packet pointers are invalid afterwards. */
static __always_inline int vx_frag_needed(struct __sk_buff *skb, const struct ethhdr *eth,
					  const struct iphdr *ip, __u32 ihl_bytes, __u32 mtu,
					  struct vx_verdict *v)
{
	struct vx_icmp_reply r = {};
	__u32 qlen = ihl_bytes + 8;
	__u32 total;
	__s64 sum;

	if (qlen > VX_ICMP_QUOTE_MAX || qlen < 28)	/* verifier: bound the variable length */
		return VX_DROP_ICMP_FAILED;
	total = VX_ICMP_REPLY_MAX - VX_ICMP_QUOTE_MAX + qlen;

	__builtin_memcpy(r.eth.h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(r.eth.h_source, eth->h_dest, ETH_ALEN);
	r.eth.h_proto = bpf_htons(ETH_P_IP);
	r.ip.version = 4;
	r.ip.ihl = 5;
	r.ip.tos = 0xc0;	/* IPTOS_PREC_INTERNETCONTROL, as the kernel's own ICMP errors */
	r.ip.tot_len = bpf_htons(total - sizeof(r.eth));
	r.ip.ttl = 64;
	r.ip.protocol = IPPROTO_ICMP;
	r.ip.saddr = ip->daddr;
	r.ip.daddr = ip->saddr;
	r.ip.check = ipv4_hdr_csum(&r.ip);
	r.icmp.type = ICMP_DEST_UNREACH;
	r.icmp.code = ICMP_FRAG_NEEDED;
	r.icmp.mtu = bpf_htons((__u16)mtu);

	if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr), r.quote, qlen))
		return VX_DROP_ICMP_FAILED;
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&r.icmp, sizeof(r.icmp) + qlen, 0);
	if (sum < 0)
		return VX_DROP_ICMP_FAILED;
	r.icmp.checksum = csum_fold32((__u64)sum);

	/* Trimming also drops GSO state: the reply is one small packet. */
	if (bpf_skb_change_tail(skb, total, 0))
		return VX_DROP_ICMP_FAILED;
	if (bpf_skb_store_bytes(skb, 0, &r.eth, total, 0))
		return VX_DROP_ICMP_FAILED;

	v->counter = VX_CTR_FRAG_NEEDED;
	return bpf_redirect_peer(skb->ifindex, 0);
}
