// Mirror of bpf/abi.h: map names, key/value codecs (sizes and offsets as the C structs), counter
// ids and the drop-reason table. test/datapath/bpf-abi.test.ts checks this file against abi.h
// and against the compiled object's map sizes; change both sides together.
import { be16, be32, bytes, struct, u32, u64, u8, type Codec } from '../../bpf/index.ts'

/** Kernel-visible map names (bpf/maps.h); also their pin file names. */
export const MAP_NAMES = ['vx_cfg', 'vx_nets', 'vx_eps', 'vx_ifs', 'vx_members', 'vx_stats'] as const
export type MapName = (typeof MAP_NAMES)[number]

/** Program names (bpf/vxlan.bpf.c). */
export const PROG_FROM_ENDPOINT = 'vx_from_ep'
export const PROG_FROM_UNDERLAY = 'vx_from_ul'

export { VXLAN_PORT, VXLAN_OVERHEAD as VX_ENCAP_LEN } from '../../net/index.ts'
export const CFG_F_VALID = 1

/** struct vx_config */
export type Config = {
  vtepIp: number
  ulIfindex: number
  udpPort: number
  flags: number
}
export const configCodec: Codec<Config> = struct<Config>(16, {
  vtepIp: { offset: 0, codec: be32 },
  ulIfindex: { offset: 4, codec: u32 },
  udpPort: { offset: 8, codec: be16 },
  flags: { offset: 12, codec: u32 },
})

/** struct vx_net (key: u32 vni) */
export type Net = {
  mtu: number
  subnet: number
  gateway: number
  prefixLen: number
}
export const netCodec: Codec<Net> = struct<Net>(16, {
  mtu: { offset: 0, codec: u32 },
  subnet: { offset: 4, codec: be32 },
  gateway: { offset: 8, codec: be32 },
  prefixLen: { offset: 12, codec: u8 },
})

/** struct vx_ep_key */
export type EpKey = {
  vni: number
  ip: number
}
export const epKeyCodec: Codec<EpKey> = struct<EpKey>(8, {
  vni: { offset: 0, codec: u32 },
  ip: { offset: 4, codec: be32 },
})

/** struct vx_ep: local when ifindex != 0, remote (behind `vtep`) otherwise. */
export type Ep = {
  ifindex: number
  vtep: number
  mac: Uint8Array
}
export const epCodec: Codec<Ep> = struct<Ep>(16, {
  ifindex: { offset: 0, codec: u32 },
  vtep: { offset: 4, codec: be32 },
  mac: { offset: 8, codec: bytes(6) },
})

/** struct vx_if (key: u32 ifindex of the host veth) */
export type If = {
  vni: number
  ip: number
  mac: Uint8Array
}
export const ifCodec: Codec<If> = struct<If>(16, {
  vni: { offset: 0, codec: u32 },
  ip: { offset: 4, codec: be32 },
  mac: { offset: 8, codec: bytes(6) },
})

/** struct vx_member_key (value: u32 1) */
export type MemberKey = {
  vni: number
  vtep: number
}
export const memberKeyCodec: Codec<MemberKey> = struct<MemberKey>(8, {
  vni: { offset: 0, codec: u32 },
  vtep: { offset: 4, codec: be32 },
})

/** struct vx_stat_key */
export type StatKey = {
  vni: number
  counter: number
}
export const statKeyCodec: Codec<StatKey> = struct<StatKey>(8, {
  vni: { offset: 0, codec: u32 },
  counter: { offset: 4, codec: u32 },
})

/** struct vx_stat (one per CPU) */
export type Stat = {
  packets: bigint
  bytes: bigint
}
export const statCodec: Codec<Stat> = struct<Stat>(16, {
  packets: { offset: 0, codec: u64 },
  bytes: { offset: 8, codec: u64 },
})

/** enum vx_counter */
export const Counter = {
  TX: 1,
  RX: 2,
  LOCAL: 3,
  ARP_REPLY: 4,
  FRAG_NEEDED: 5,
} as const

/**
 * Drop reasons by code (the key's counter field holds -VX_DROP_*, i.e. these positive codes).
 * Same order and numbers as bpf/abi.h; never renumber.
 */
export const DROP_REASONS: Readonly<Record<number, string>> = {
  130: 'truncated',
  131: 'not_vxlan_flag',
  132: 'unknown_vni',
  133: 'vtep_not_member',
  134: 'unknown_dst',
  135: 'unknown_src_if',
  136: 'src_spoof',
  137: 'bum',
  138: 'not_ipv4',
  139: 'inner_not_ipv4',
  140: 'arp_unanswered',
  141: 'too_big',
  142: 'outer_frag',
  143: 'no_config',
  144: 'encap_failed',
  145: 'decap_failed',
  146: 'icmp_failed',
  147: 'bad_ip',
  148: 'loop',
}

/** Reason name -> code. */
export const DROP_CODES: Readonly<Record<string, number>> = Object.fromEntries(
  Object.entries(DROP_REASONS).map(([code, name]) => [name, Number(code)]),
)
