/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Internet checksum helpers (RFC 1071) for headers built on the stack before they are stored. */
#pragma once

#include <linux/types.h>
#include <linux/ip.h>

static __always_inline __u16 csum_fold32(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Checksum of a 20-byte IPv4 header (no options) whose check field is 0. */
static __always_inline __sum16 ipv4_hdr_csum(const struct iphdr *ip)
{
	const __u16 *p = (const __u16 *)ip;
	__u64 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*ip) / 2); i++)
		sum += p[i];
	return (__sum16)csum_fold32(sum);
}
