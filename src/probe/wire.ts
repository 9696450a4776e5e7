// The probe datagram (the UDP payload of a probe to a peer's VTEP, port 4789): a VXLAN header
// with the I and probe flags and the VNI, struct vx_probe (bpf/abi.h), then padding up to the
// size under test. Pure: built and parsed here, answered by bpf/lib/probe.h.
// A request may ask about one more VNI (struct vx_probe's pad0, 24 bits; 0 asks nothing, as
// old probers send): the peer's reply op says whether its datapath serves it.
import { decode, encode } from '../bpf/index.ts'
import {
  PROBE_MAGIC,
  PROBE_OP_REPLY,
  PROBE_OP_REQUEST,
  probeCodec,
  VXLAN_FLAG_I,
  VXLAN_FLAG_PROBE,
} from '../datapath/bpf/abi.ts'

/** IPv4 (20, no options) + UDP (8) headers in front of the datagram. */
export const IP_UDP_LEN = 28
/** VXLAN header + struct vx_probe. */
export const PROBE_LEN = 8 + probeCodec.size
/** The reply op when the asked VNI is not served (bpf/lib/probe.h VX_PROBE_OP_REPLY_VNI_UNKNOWN). */
export const PROBE_OP_REPLY_VNI_UNKNOWN = 3
/** Where struct vx_probe's pad0 (the asked VNI) is in the datagram. */
const ASKED_VNI_AT = 8 + 5
/** The smallest probe, as IPv4 bytes on the wire. */
export const MIN_PROBE_IP_BYTES = IP_UDP_LEN + PROBE_LEN

export interface ProbeFields {
  vni: number
  id: number
  seq: number
  sentNs: bigint
  /** A VNI to ask the peer about (0 or absent: none). */
  askVni?: number
}

export interface ProbeReply extends ProbeFields {
  ipBytes: number
  /** The asked VNI and whether the peer's datapath serves it (absent when nothing was asked). */
  asked?: { vni: number; served: boolean }
}

/** A request whose IPv4 packet is `ipBytes` long (at least MIN_PROBE_IP_BYTES). */
export function probeRequest(p: ProbeFields, ipBytes = MIN_PROBE_IP_BYTES): Uint8Array {
  const out = new Uint8Array(Math.max(ipBytes, MIN_PROBE_IP_BYTES) - IP_UDP_LEN)
  out[0] = VXLAN_FLAG_I | VXLAN_FLAG_PROBE
  new DataView(out.buffer).setUint32(4, (p.vni << 8) >>> 0, false)
  out.set(
    encode(probeCodec, {
      magic: PROBE_MAGIC,
      op: PROBE_OP_REQUEST,
      id: p.id,
      seq: p.seq,
      sentNs: p.sentNs,
    }),
    8,
  )
  const ask = p.askVni ?? 0
  out[ASKED_VNI_AT] = (ask >>> 16) & 0xff
  out[ASKED_VNI_AT + 1] = (ask >>> 8) & 0xff
  out[ASKED_VNI_AT + 2] = ask & 0xff
  return out
}

/** The fields of a reply, with its IPv4 size; undefined for anything else. */
export function parseReply(b: Uint8Array): ProbeReply | undefined {
  if (
    b.length < PROBE_LEN ||
    (b[0]! & (VXLAN_FLAG_I | VXLAN_FLAG_PROBE)) !== (VXLAN_FLAG_I | VXLAN_FLAG_PROBE)
  )
    return undefined
  const p = decode(probeCodec, b, 8)
  if (p.magic !== PROBE_MAGIC || (p.op !== PROBE_OP_REPLY && p.op !== PROBE_OP_REPLY_VNI_UNKNOWN))
    return undefined
  const vni = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(4, false) >>> 8
  const ask = (b[ASKED_VNI_AT]! << 16) | (b[ASKED_VNI_AT + 1]! << 8) | b[ASKED_VNI_AT + 2]!
  return {
    vni,
    id: p.id,
    seq: p.seq,
    sentNs: p.sentNs,
    ipBytes: b.length + IP_UDP_LEN,
    ...(ask && { askVni: ask, asked: { vni: ask, served: p.op === PROBE_OP_REPLY } }),
  }
}
