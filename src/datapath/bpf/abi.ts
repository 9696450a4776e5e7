// Mirror of bpf/abi.h: map names, key/value codecs (sizes, offsets and byte order as the C
// structs), counter ids and the drop-reason table. test/datapath/bpf-abi.test.ts checks this
// file against the compiled object's BTF: every map's key and value type member by member
// (offset, and __be32 vs __u32 through the typedef chain), enum vx_counter and enum
// vx_drop_reason. Change both sides together.
import { be16, be32, bytes, struct, u32, u64, u8, type Codec } from '../../bpf/index.ts'

type FieldsOf<T> = { [K in keyof T]: { offset: number; codec: Codec<T[K]> } }

/** A struct codec that also says which C struct it mirrors and how (read by the ABI test). */
export interface CStructCodec<T> extends Codec<T> {
  readonly cName: string
  readonly fields: Readonly<FieldsOf<T>>
}

function cstruct<T extends Record<string, unknown>>(
  cName: string,
  size: number,
  fields: FieldsOf<T>,
): CStructCodec<T> {
  return Object.assign(struct<T>(size, fields), { cName, fields })
}

/** Kernel-visible map names (bpf/maps.h); also their pin file names. */
export const MAP_NAMES = [
  'vx_cfg',
  'vx_nets',
  'vx_eps',
  'vx_ifs',
  'vx_members',
  'vx_subnets',
  'vx_stats',
] as const

/** Program names (bpf/vxlan.bpf.c). */
export const PROG_FROM_ENDPOINT = 'vx_from_ep'
export const PROG_FROM_UNDERLAY = 'vx_from_ul'

export { VXLAN_PORT, VXLAN_OVERHEAD as VX_ENCAP_LEN } from '../../net/index.ts'
export const CFG_F_VALID = 1
/** The host side of the way out (forwarding, NAT) is set up. */
export const CFG_F_EGRESS = 2
/** vx_net.flags: --internal, nothing leaves the overlay. */
export const NET_F_INTERNAL = 1

/** struct vx_config */
export type Config = {
  vtepIp: number
  ulIfindex: number
  udpPort: number
  flags: number
}
export const configCodec: CStructCodec<Config> = cstruct<Config>('vx_config', 16, {
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
  flags: number
}
export const netCodec: CStructCodec<Net> = cstruct<Net>('vx_net', 16, {
  mtu: { offset: 0, codec: u32 },
  subnet: { offset: 4, codec: be32 },
  gateway: { offset: 8, codec: be32 },
  prefixLen: { offset: 12, codec: u8 },
  flags: { offset: 13, codec: u8 },
})

/** struct vx_ep_key */
export type EpKey = {
  vni: number
  ip: number
}
export const epKeyCodec: CStructCodec<EpKey> = cstruct<EpKey>('vx_ep_key', 8, {
  vni: { offset: 0, codec: u32 },
  ip: { offset: 4, codec: be32 },
})

/** struct vx_ep: local when ifindex != 0, remote (behind `vtep`) otherwise. */
export type Ep = {
  ifindex: number
  vtep: number
  mac: Uint8Array
}
export const epCodec: CStructCodec<Ep> = cstruct<Ep>('vx_ep', 16, {
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
export const ifCodec: CStructCodec<If> = cstruct<If>('vx_if', 16, {
  vni: { offset: 0, codec: u32 },
  ip: { offset: 4, codec: be32 },
  mac: { offset: 8, codec: bytes(6) },
})

/** bpf/abi.h VX_MIN_NET_MTU: the smallest network MTU the datapath may write (the BPF egress
 * program skips the MTU lookup for packets up to this size). */
export const VX_MIN_NET_MTU = 576

/** struct vx_member_key (value: u32 1) */
export type MemberKey = {
  vni: number
  vtep: number
}
export const memberKeyCodec: CStructCodec<MemberKey> = cstruct<MemberKey>('vx_member_key', 8, {
  vni: { offset: 0, codec: u32 },
  vtep: { offset: 4, codec: be32 },
})

/** struct vx_subnet_key (an LPM trie key: prefix length first) */
export type SubnetKey = {
  prefixlen: number
  addr: number
}
export const subnetKeyCodec: CStructCodec<SubnetKey> = cstruct<SubnetKey>('vx_subnet_key', 8, {
  prefixlen: { offset: 0, codec: u32 },
  addr: { offset: 4, codec: be32 },
})

/** struct vx_subnet */
export type Subnet = {
  vni: number
}
export const subnetCodec: CStructCodec<Subnet> = cstruct<Subnet>('vx_subnet', 8, {
  vni: { offset: 0, codec: u32 },
})

/** struct vx_stat_key */
export type StatKey = {
  vni: number
  counter: number
}
export const statKeyCodec: CStructCodec<StatKey> = cstruct<StatKey>('vx_stat_key', 8, {
  vni: { offset: 0, codec: u32 },
  counter: { offset: 4, codec: u32 },
})

/** struct vx_stat (one per CPU) */
export type Stat = {
  packets: bigint
  bytes: bigint
}
export const statCodec: CStructCodec<Stat> = cstruct<Stat>('vx_stat', 16, {
  packets: { offset: 0, codec: u64 },
  bytes: { offset: 8, codec: u64 },
})

/** Each map's key and value codec, as bpf/maps.h declares them (`__type(key, ...)`). */
export const MAP_CODECS: Readonly<
  Record<(typeof MAP_NAMES)[number], { key: Codec<any>; value: Codec<any> }>
> = {
  vx_cfg: { key: u32, value: configCodec },
  vx_nets: { key: u32, value: netCodec },
  vx_eps: { key: epKeyCodec, value: epCodec },
  vx_ifs: { key: u32, value: ifCodec },
  vx_members: { key: memberKeyCodec, value: u32 },
  vx_subnets: { key: subnetKeyCodec, value: subnetCodec },
  vx_stats: { key: statKeyCodec, value: statCodec },
}

/** enum vx_counter */
export const Counter = {
  TX: 1,
  RX: 2,
  LOCAL: 3,
  ARP_REPLY: 4,
  FRAG_NEEDED: 5,
  OUT: 6,
  GW_ECHO: 7,
  PROBE_REPLY: 8,
} as const

/** Peer probes (bpf/lib/probe.h): VXLAN flags, magic and ops. */
export const VXLAN_FLAG_I = 0x08
export const VXLAN_FLAG_PROBE = 0x01
export const PROBE_MAGIC = 0x77667072
export const PROBE_OP_REQUEST = 1
export const PROBE_OP_REPLY = 2

/** struct vx_probe: right after the VXLAN header of a probe (never in a map). */
export type Probe = {
  magic: number
  op: number
  id: number
  seq: number
  sentNs: bigint
}
export const probeCodec: CStructCodec<Probe> = cstruct<Probe>('vx_probe', 24, {
  magic: { offset: 0, codec: be32 },
  op: { offset: 4, codec: u8 },
  id: { offset: 8, codec: be32 },
  seq: { offset: 12, codec: be32 },
  sentNs: { offset: 16, codec: u64 },
})

/** Structs of abi.h in no map but on the wire: checked against the BTF like the maps' types. */
export const WIRE_STRUCTS: readonly CStructCodec<any>[] = [probeCodec]

/**
 * Drop reasons by code (the key's counter field holds -VX_DROP_*, i.e. these positive codes);
 * each name is its enum vx_drop_reason member without VX_DROP_, lower-cased. Never renumber.
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
  149: 'inner_src_spoof',
  150: 'foreign_net',
  151: 'internal',
  152: 'no_way_out',
}

/** Reason name -> code. */
export const DROP_CODES: Readonly<Record<string, number>> = Object.fromEntries(
  Object.entries(DROP_REASONS).map(([code, name]) => [name, Number(code)]),
)
