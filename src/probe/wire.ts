// The probe datagram (the UDP payload of a probe to a peer's VTEP, port 4789): a VXLAN header
// with the I and probe flags and the VNI, struct vx_probe (bpf/abi.h), then padding up to the
// size under test. Pure: built and parsed here, answered by bpf/lib/probe.h.
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
/** The smallest probe, as IPv4 bytes on the wire. */
export const MIN_PROBE_IP_BYTES = IP_UDP_LEN + PROBE_LEN

export interface ProbeFields {
  vni: number
  id: number
  seq: number
  sentNs: bigint
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
  return out
}

/** The fields of a reply, with its IPv4 size; undefined for anything else. */
export function parseReply(b: Uint8Array): (ProbeFields & { ipBytes: number }) | undefined {
  if (
    b.length < PROBE_LEN ||
    (b[0]! & (VXLAN_FLAG_I | VXLAN_FLAG_PROBE)) !== (VXLAN_FLAG_I | VXLAN_FLAG_PROBE)
  )
    return undefined
  const p = decode(probeCodec, b, 8)
  if (p.magic !== PROBE_MAGIC || p.op !== PROBE_OP_REPLY) return undefined
  const vni = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(4, false) >>> 8
  return { vni, id: p.id, seq: p.seq, sentNs: p.sentNs, ipBytes: b.length + IP_UDP_LEN }
}
