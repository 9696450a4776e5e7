// tc requests as rtnetlink bytes (pure): the clsact (or ingress) qdisc and a direct-action bpf filter, as
// libbpf's bpf_tc_hook_create / bpf_tc_attach send them, for the agent's own socket (./netlink.ts).
// Why (2026-12, issue 17): libbpf opens, binds and closes a new netlink socket for each of the
// two, per endpoint; on the agent's socket both go in one send.
//
// Layout (include/uapi/linux/rtnetlink.h, pkt_sched.h, pkt_cls.h): tcmsg (family, pad, ifindex,
// handle, parent, info; 20 bytes), TCA_KIND, TCA_OPTIONS (for bpf: fd, name, flags).
import {
  AF_UNSPEC,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NetlinkMessage,
} from './netlink-message.ts'

export const RTM_NEWQDISC = 36
export const RTM_NEWTFILTER = 44
const TCA_KIND = 1
const TCA_OPTIONS = 2
const TCA_BPF_FD = 6
const TCA_BPF_NAME = 7
const TCA_BPF_FLAGS = 8
const TCA_BPF_FLAG_ACT_DIRECT = 1
/** TC_H_CLSACT (= TC_H_INGRESS): the clsact qdisc's parent; its handle is ffff:0. */
const TC_H_CLSACT = 0xfffffff1
const TC_H_CLSACT_HANDLE = 0xffff0000
/** TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS / TC_H_MIN_EGRESS) */
const TC_PARENT = { ingress: 0xfffffff2, egress: 0xfffffff3 } as const
/** htons(ETH_P_ALL), the protocol half of tcm_info */
const ETH_P_ALL_BE = 0x0300

function tcmsg(ifindex: number, handle: number, parent: number, info = 0): Uint8Array {
  const b = new Uint8Array(20)
  const v = new DataView(b.buffer)
  v.setUint8(0, AF_UNSPEC)
  v.setInt32(4, ifindex, true)
  v.setUint32(8, handle >>> 0, true)
  v.setUint32(12, parent >>> 0, true)
  v.setUint32(16, info >>> 0, true)
  return b
}

/**
 * `tc qdisc add dev <ifindex> clsact|ingress`. Both take the same parent and handle, so EEXIST
 * when either is there, and an ingress filter attaches to either. `ingress` is the ingress hook
 * alone. Why it for an ingress-only filter (2026-12, issue 17): each new tc block of a device
 * without ndo_setup_tc (a veth) is added to the kernel's flow_indr list, and
 * flow_indr_dev_setup_offload walks that whole machine-wide list per new block. clsact makes two
 * blocks, so the list grows by two per veth and each new veth walks it twice: 2.4 of the agents'
 * 13.8 sys CPU-s in the 3,000-endpoint converge. One block per veth makes that a quarter.
 */
export function hookQdiscMessage(ifindex: number, kind: 'clsact' | 'ingress'): NetlinkMessage {
  return new NetlinkMessage(
    RTM_NEWQDISC,
    NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
    tcmsg(ifindex, TC_H_CLSACT_HANDLE, TC_H_CLSACT),
  ).str(TCA_KIND, kind)
}

export interface BpfFilterRequest {
  ifindex: number
  direction: 'ingress' | 'egress'
  progFd: number
  /** Shown by `tc filter show` (libbpf writes "<name>:[<id>]"). */
  name: string
  handle: number
  /** 1..0xffff */
  priority: number
  /** Replace the program of a filter at that handle/priority; else EEXIST when there is one. */
  replace: boolean
}

/** `tc filter add dev <ifindex> <dir> prio P handle H bpf da fd <progFd>` */
export function bpfFilterMessage(o: BpfFilterRequest): NetlinkMessage {
  const info = ((o.priority << 16) | ETH_P_ALL_BE) >>> 0
  return new NetlinkMessage(
    RTM_NEWTFILTER,
    NLM_F_CREATE | NLM_F_ACK | (o.replace ? NLM_F_REPLACE : NLM_F_EXCL),
    tcmsg(o.ifindex, o.handle, TC_PARENT[o.direction], info),
  )
    .str(TCA_KIND, 'bpf')
    .begin(TCA_OPTIONS)
    .u32(TCA_BPF_FD, o.progFd)
    .str(TCA_BPF_NAME, o.name)
    .u32(TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT)
    .end()
}
