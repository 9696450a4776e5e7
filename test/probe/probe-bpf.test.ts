// bpf/lib/probe.h on crafted packets (BPF_PROG_TEST_RUN, no network): a peer's probe is
// answered by vx_from_ul itself, addresses and ports swapped, op turned into a reply, padding
// kept, counted as probe_reply; probes the data path would refuse (unknown VNI, non-member
// source) are dropped by the same reasons; anything that is not a probe is left to the data
// path. Needs root (loads BPF); fails loudly without it.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import {
  decode,
  encode,
  openObject,
  PerCpuMap,
  sumCounters,
  testRun,
  TypedMap,
  u32,
  type LoadedObject,
} from '../../src/bpf/index.ts'
import {
  CFG_F_VALID,
  configCodec,
  Counter,
  DROP_CODES,
  memberKeyCodec,
  netCodec,
  PROBE_MAGIC,
  PROBE_OP_REPLY,
  PROBE_OP_REQUEST,
  probeCodec,
  statCodec,
  statKeyCodec,
  VXLAN_FLAG_I,
  VXLAN_FLAG_PROBE,
  VXLAN_PORT,
} from '../../src/datapath/bpf/abi.ts'
import { bpfObjectBytes } from '../../src/embedded/index.ts'
import { ipv4ToInt } from '../../src/net/index.ts'
import { requireRoot } from '../harness/index.ts'
import { hex, readIpv4, u16at, vxlanFrame, type Bytes } from '../datapath/fixtures/packets.ts'

const TC_ACT_SHOT = 2
const TC_ACT_REDIRECT = 7
const ME = '198.18.0.1'
const PEER = '198.18.0.2'
const STRANGER = '198.18.0.9'
const VNI = 256

let obj: LoadedObject
let stats: PerCpuMap<{ vni: number; counter: number }, { packets: bigint; bytes: bigint }>

function probe(o: { op?: number; magic?: number; pad?: number } = {}): Bytes {
  const p = encode(probeCodec, {
    magic: o.magic ?? PROBE_MAGIC,
    op: o.op ?? PROBE_OP_REQUEST,
    id: 0xabcdef,
    seq: 7,
    sentNs: 123456789n,
  })
  const out = new Uint8Array(p.length + (o.pad ?? 0)).fill(0x5a)
  out.set(p)
  return out
}

const request = (
  o: { src?: string; vni?: number; flags?: number; op?: number; magic?: number; pad?: number } = {},
) =>
  vxlanFrame({
    outerSrc: o.src ?? PEER,
    outerDst: ME,
    vni: o.vni ?? VNI,
    sport: 40001,
    flags: o.flags ?? VXLAN_FLAG_I | VXLAN_FLAG_PROBE,
    inner: probe(o),
  })

function counts(): Map<string, bigint> {
  return new Map(stats.entries().map(([k, v]) => [`${k.vni}:${k.counter}`, sumCounters(v).packets]))
}

function run(frame: Bytes): { retval: number; output: Bytes; moved: string[] } {
  const before = counts()
  const r = testRun(obj.program('vx_from_ul'), frame)
  const after = counts()
  const moved = [...new Set([...before.keys(), ...after.keys()])]
    .filter((k) => before.get(k) !== after.get(k))
    .sort()
  return { retval: r.retval, output: r.output, moved }
}

beforeAll(() => {
  requireRoot()
  obj = openObject(bpfObjectBytes('vxlan'), { name: 'vxlan-probe' }).load()
  new TypedMap(obj.map('vx_cfg'), u32, configCodec).update(0, {
    vtepIp: ipv4ToInt(ME),
    ulIfindex: 1,
    udpPort: VXLAN_PORT,
    flags: CFG_F_VALID,
  })
  new TypedMap(obj.map('vx_nets'), u32, netCodec).update(VNI, {
    mtu: 1450,
    subnet: ipv4ToInt('10.0.1.0'),
    gateway: ipv4ToInt('10.0.1.1'),
    prefixLen: 24,
    flags: 0,
  })
  new TypedMap(obj.map('vx_members'), memberKeyCodec, u32).update(
    { vni: VNI, vtep: ipv4ToInt(PEER) },
    1,
  )
  stats = new PerCpuMap(obj.map('vx_stats'), statKeyCodec, statCodec)
})

afterAll(() => obj?.close())

describe('vx_from_ul answers peer probes (bpf/lib/probe.h)', () => {
  test('a member VTEP’s probe comes back as a reply: MACs, addresses, ports swapped, payload echoed', () => {
    const req = request({ pad: 100 })
    const r = run(req)
    expect(r.retval).toBe(TC_ACT_REDIRECT)
    expect(r.moved).toEqual([`${VNI}:${Counter.PROBE_REPLY}`])
    expect(r.output.length).toBe(req.length)
    expect(hex(r.output.subarray(0, 6))).toBe(hex(req.subarray(6, 12)))
    expect(hex(r.output.subarray(6, 12))).toBe(hex(req.subarray(0, 6)))
    const ip = readIpv4(r.output, 14)
    expect(ip).toMatchObject({
      src: ME,
      dst: PEER,
      proto: 17,
      checksumOk: true,
      totLen: req.length - 14,
    })
    expect(u16at(r.output, 34)).toBe(VXLAN_PORT)
    expect(u16at(r.output, 36)).toBe(40001)
    expect(u16at(r.output, 40)).toBe(0) // UDP checksum 0
    const reply = decode(probeCodec, r.output, 50)
    expect(reply).toEqual({
      magic: PROBE_MAGIC,
      op: PROBE_OP_REPLY,
      id: 0xabcdef,
      seq: 7,
      sentNs: 123456789n,
    })
    expect(hex(r.output.subarray(50 + probeCodec.size))).toBe(
      hex(req.subarray(50 + probeCodec.size)),
    ) // padding kept
  })

  test('a probe from a VTEP that is no member of the VNI is dropped as vtep_not_member', () => {
    const r = run(request({ src: STRANGER }))
    expect(r.retval).toBe(TC_ACT_SHOT)
    expect(r.moved).toEqual([`${VNI}:${DROP_CODES.vtep_not_member}`])
  })

  test('a probe for a VNI this host does not serve is dropped as unknown_vni (under vni 0)', () => {
    const r = run(request({ vni: 999 }))
    expect(r.retval).toBe(TC_ACT_SHOT)
    expect(r.moved).toEqual([`0:${DROP_CODES.unknown_vni}`])
  })

  test('without the probe flag, with another magic, or a reply: not a probe, the data path judges it', () => {
    for (const req of [
      request({ flags: VXLAN_FLAG_I }),
      request({ magic: 0x12345678 }),
      request({ op: PROBE_OP_REPLY }),
    ]) {
      const r = run(req)
      expect(r.moved).not.toContain(`${VNI}:${Counter.PROBE_REPLY}`)
      expect(r.retval).toBe(TC_ACT_SHOT) // the "inner frame" is a probe struct: not IPv4
      expect(r.moved).toEqual([`${VNI}:${DROP_CODES.inner_not_ipv4}`])
    }
  })
})
