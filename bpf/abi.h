/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* The kernel <-> user-space contract of the weft datapath: map keys and values, counter ids and
 * drop reasons. Every struct has explicit padding and no implicit holes; network-order fields are
 * __be16/__be32. Mirrored by src/datapath/bpf/abi.ts (test/datapath/bpf-abi.test.ts checks both
 * agree, against this file and the compiled object's map sizes). Change both or neither.
 */
#pragma once

#include <linux/types.h>

/* ---- config: vx_cfg[0], written by the loader, read per packet ---- */

struct vx_config {
	__be32 vtep_ip;		/* local VTEP (advertise address), outer source / accepted dest */
	__u32 ul_ifindex;	/* underlay NIC: encapsulated packets are redirected here */
	__be16 udp_port;	/* VXLAN UDP destination port, 4789 */
	__u16 pad0;
	__u32 flags;		/* VX_CFG_F_*; bit 0 = config valid */
};				/* 16 bytes */

#define VX_CFG_F_VALID 1
#define VX_CFG_F_EGRESS 2	/* the host side of the way out is set up (forwarding, NAT): packets
				 * for outside every weft network may go up to the host stack */

/* ---- networks: vx_nets[vni] ---- */

struct vx_net {
	__u32 mtu;		/* overlay MTU: larger DF packets get ICMP frag-needed */
	__be32 subnet;		/* network address of the IPv4 subnet (user space only: plumbing) */
	__be32 gateway;		/* gateway address (user space only) */
	__u8 prefix_len;	/* subnet prefix length */
	__u8 flags;		/* VX_NET_F_* */
	__u8 pad0[2];
};				/* 16 bytes; key: __u32 vni (host order) */

/* The smallest overlay MTU a network may have: the datapath refuses to write a smaller one
 * (src/datapath/bpf/datapath.ts), so a packet up to this size needs no MTU lookup. */
#define VX_MIN_NET_MTU 576
#define VX_NET_F_INTERNAL 1	/* --internal: nothing leaves the overlay (no way out) */

/* ---- every weft subnet of the cluster: vx_subnets (LPM trie), isolation on the way out ---- */

struct vx_subnet_key {
	__u32 prefixlen;	/* LPM trie key: prefix length first */
	__be32 addr;		/* network address */
};				/* 8 bytes */

struct vx_subnet {
	__u32 vni;		/* the network that owns the subnet */
	__u32 pad0;
};				/* 8 bytes */

/* ---- endpoints: vx_eps[{vni, ip}] (local and remote), vx_ifs[ifindex] (local only) ---- */

struct vx_ep_key {
	__u32 vni;		/* host order */
	__be32 ip;		/* endpoint IPv4 address */
};				/* 8 bytes */

struct vx_ep {
	__u32 ifindex;		/* local: host-side veth ifindex; remote: 0 */
	__be32 vtep;		/* remote: owning VTEP; local: 0 */
	__u8 mac[6];		/* endpoint MAC (ARP answers, inner dst MAC) */
	__u16 pad0;
};				/* 16 bytes */

struct vx_if {
	__u32 vni;		/* network of the endpoint behind this host veth */
	__be32 ip;		/* its address: the only source address accepted from it */
	__u8 mac[6];		/* its MAC */
	__u16 pad0;
};				/* 16 bytes; key: __u32 ifindex (host veth, this netns) */

/* ---- members: vx_members[{vni, vtep}] = 1: VTEPs allowed to send this VNI to us ---- */

struct vx_member_key {
	__u32 vni;
	__be32 vtep;
};				/* 8 bytes; value: __u32, 1 */

/* ---- counters: vx_stats[{vni, counter}] per CPU ---- */

struct vx_stat_key {
	__u32 vni;		/* 0 when the packet's VNI is not one of ours (e.g. unknown_vni) */
	__u32 counter;		/* enum vx_counter, or -reason for drops (130..) */
};				/* 8 bytes */

struct vx_stat {
	__u64 packets;
	__u64 bytes;
};				/* 16 bytes, one per CPU */

enum vx_counter {
	VX_CTR_TX = 1,		/* encapsulated towards a remote VTEP (bytes: inner frame) */
	VX_CTR_RX = 2,		/* decapsulated and delivered to a local endpoint (bytes: inner frame) */
	VX_CTR_LOCAL = 3,	/* switched between two endpoints of this host, never left it */
	VX_CTR_ARP_REPLY = 4,	/* ARP requests answered in BPF */
	VX_CTR_FRAG_NEEDED = 5,	/* ICMP fragmentation-needed built and sent back */
	VX_CTR_OUT = 6,		/* way out: passed up to the host stack for outside every weft network */
	VX_CTR_GW_ECHO = 7,	/* ICMP echo to the gateway address answered in BPF */
	VX_CTR_PROBE_REPLY = 8,	/* peer probes answered in BPF (lib/probe.h; bytes: whole frame) */
};

/* ---- drop reasons ----
 * Helpers return these (negative, below every TC_ACT_* value) or a TC verdict; only the entry
 * points turn them into TC_ACT_SHOT and count them under counter = -reason. The name after
 * VX_DROP_, lower-cased, is the reason's name in `weft stats` and /metrics. The enum is in the
 * object's BTF: DROP_REASONS in src/datapath/bpf/abi.ts is checked against it
 * (test/datapath/bpf-abi.test.ts). Never renumber; a new reason takes the next lower code and
 * moves VX_DROP_RANGE_LO.
 */
enum vx_drop_reason {
	VX_DROP_TRUNCATED = -130,	/* headers shorter than they claim */
	VX_DROP_NOT_VXLAN_FLAG = -131,	/* VXLAN I flag clear */
	VX_DROP_UNKNOWN_VNI = -132,	/* no such network on this host */
	VX_DROP_VTEP_NOT_MEMBER = -133,	/* outer source not a member VTEP of the VNI */
	VX_DROP_UNKNOWN_DST = -134,	/* no endpoint with that address in the VNI */
	VX_DROP_UNKNOWN_SRC_IF = -135,	/* ingress veth is not a known endpoint */
	VX_DROP_SRC_SPOOF = -136,	/* source IPv4 is not the sending endpoint's own */
	VX_DROP_BUM = -137,		/* broadcast/multicast other than ARP (not replicated) */
	VX_DROP_NOT_IPV4 = -138,	/* endpoint sent neither IPv4 nor ARP */
	VX_DROP_INNER_NOT_IPV4 = -139,	/* decapsulated frame is not IPv4 (incl. ARP) */
	VX_DROP_ARP_UNANSWERED = -140,	/* ARP not a request for an address of the VNI */
	VX_DROP_TOO_BIG = -141,		/* over the overlay MTU without DF */
	VX_DROP_OUTER_FRAG = -142,	/* fragmented VXLAN packet */
	VX_DROP_NO_CONFIG = -143,	/* vx_cfg not written yet */
	VX_DROP_ENCAP_FAILED = -144,	/* bpf_skb_adjust_room refused to grow */
	VX_DROP_DECAP_FAILED = -145,	/* bpf_skb_adjust_room refused to shrink */
	VX_DROP_ICMP_FAILED = -146,	/* could not build the frag-needed reply */
	VX_DROP_BAD_IP = -147,		/* malformed IPv4 header (ihl < 5, version != 4) */
	VX_DROP_LOOP = -148,		/* destination is the sender itself */
	VX_DROP_INNER_SRC_SPOOF = -149,	/* decap: inner source is not an endpoint of the VNI
					 * behind the outer source VTEP */
	VX_DROP_FOREIGN_NET = -150,	/* destination is in another weft network's subnet */
	VX_DROP_INTERNAL = -151,	/* destination outside the network, which is --internal */
	VX_DROP_NO_WAY_OUT = -152,	/* destination outside every weft network, and this host's
					 * way out (forwarding, NAT) is not set up */

	VX_DROP_RANGE_LO = VX_DROP_NO_WAY_OUT,	/* lowest code in use */
	VX_DROP_RANGE_HI = VX_DROP_TRUNCATED,		/* highest code in use */
};

/* ---- wire constants ---- */

#define VX_VXLAN_PORT		4789
#define VX_VXLAN_FLAG_I		0x08	/* first byte of the VXLAN header: VNI valid */
#define VX_ENCAP_LEN		50	/* outer eth 14 + ipv4 20 + udp 8 + vxlan 8 */

/* ---- peer probes (lib/probe.h, src/probe/) ----
 * A probe is VXLAN to a peer's VTEP with the I flag and the OAM flag set (VXLAN-GPE's O bit),
 * the VNI of a network both hosts serve, and a struct vx_probe where the inner frame would be.
 * The peer's vx_from_ul answers it itself (addresses and ports swapped, op = reply), so a
 * host whose agent is down but whose datapath forwards still answers. The prober pads
 * requests to measure the path MTU; the reply is the request, padding included.
 */
#define VX_VXLAN_FLAG_PROBE	0x01
#define VX_PROBE_MAGIC		0x77667072	/* "wfpr" */
#define VX_PROBE_OP_REQUEST	1
#define VX_PROBE_OP_REPLY	2

struct vx_probe {
	__be32 magic;		/* VX_PROBE_MAGIC */
	__u8 op;		/* VX_PROBE_OP_* */
	__u8 pad0[3];
	__be32 id;		/* the prober's instance: replies to another prober are not ours */
	__be32 seq;		/* the prober's sequence number */
	__u64 sent_ns;		/* the prober's send time, echoed */
};				/* 24 bytes, right after the VXLAN header */
