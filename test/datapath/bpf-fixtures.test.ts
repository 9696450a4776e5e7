// bpf/vxlan.bpf.c on crafted packets, without a network: every case in
// fixtures/vxlan-cases.ts runs through BPF_PROG_TEST_RUN on a private (unpinned) copy of the
// object whose maps hold fixtures' WORLD. Checks the verdict, the output frame, and that
// exactly the expected counter (drop reason or success counter, per VNI) moved.
// Needs root (loads BPF); fails loudly without it.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import {
  openObject, PerCpuMap, sumCounters, testRun, TypedMap, u32, type LoadedObject,
} from '../../src/bpf/index.ts'
import {
  configCodec, Counter, DROP_CODES, epCodec, epKeyCodec, ifCodec, memberKeyCodec, netCodec, statCodec, statKeyCodec,
  CFG_F_VALID, VXLAN_PORT,
} from '../../src/datapath/bpf/abi.ts'
import { bpfObjectBytes } from '../../src/embedded/index.ts'
import { ipv4ToInt } from '../../src/net/index.ts'
import { requireRoot } from '../harness/index.ts'
import { eth, ETH_P_IP, hex, inetChecksum, ipv4, udp, ipStr, macStr, readIpv4, u16at, u32at, type Bytes } from './fixtures/packets.ts'
import { ENDPOINT_CASES, SENDER, TC_ACT_REDIRECT, UNDERLAY_CASES, WORLD, type PacketCase } from './fixtures/vxlan-cases.ts'

const COUNTER_IDS: Record<string, number> = {
  tx: Counter.TX, rx: Counter.RX, local: Counter.LOCAL, arp_reply: Counter.ARP_REPLY, frag_needed: Counter.FRAG_NEEDED,
  ...DROP_CODES,
}

let obj: LoadedObject
let stats: PerCpuMap<{ vni: number; counter: number }, { packets: bigint; bytes: bigint }>

const mac = (s: string) => Uint8Array.from(s.split(':').map((h) => parseInt(h, 16)))

function snapshot(): Map<string, bigint> {
  const out = new Map<string, bigint>()
  for (const [k, v] of stats.entries()) out.set(`${k.vni}:${k.counter}`, sumCounters(v).packets)
  return out
}

function moved(before: Map<string, bigint>, after: Map<string, bigint>): string[] {
  const keys = new Set([...before.keys(), ...after.keys()])
  return [...keys].filter((k) => (after.get(k) ?? 0n) !== (before.get(k) ?? 0n)).sort()
}

beforeAll(() => {
  requireRoot()
  obj = openObject(bpfObjectBytes('vxlan'), { name: 'vxlan-fixtures' }).load()
  new TypedMap(obj.map('vx_cfg'), u32, configCodec).update(0, {
    vtepIp: ipv4ToInt(WORLD.vtep), ulIfindex: WORLD.ulIfindex, udpPort: VXLAN_PORT, flags: CFG_F_VALID,
  })
  const nets = new TypedMap(obj.map('vx_nets'), u32, netCodec)
  for (const n of WORLD.networks) {
    nets.update(n.vni, { mtu: n.mtu, subnet: ipv4ToInt(n.subnet), gateway: ipv4ToInt(n.gateway), prefixLen: n.prefixLen, flags: 0 })
  }
  const eps = new TypedMap(obj.map('vx_eps'), epKeyCodec, epCodec)
  const ifs = new TypedMap(obj.map('vx_ifs'), u32, ifCodec)
  for (const e of WORLD.local) {
    eps.update({ vni: e.vni, ip: ipv4ToInt(e.ip) }, { ifindex: e.ifindex, vtep: 0, mac: mac(e.mac) })
    ifs.update(e.ifindex, { vni: e.vni, ip: ipv4ToInt(e.ip), mac: mac(e.mac) })
  }
  for (const e of WORLD.remote) {
    eps.update({ vni: e.vni, ip: ipv4ToInt(e.ip) }, { ifindex: 0, vtep: ipv4ToInt(e.vtep), mac: mac(e.mac) })
  }
  const members = new TypedMap(obj.map('vx_members'), memberKeyCodec, u32)
  for (const m of WORLD.members) members.update({ vni: m.vni, vtep: ipv4ToInt(m.vtep) }, 1)
  stats = new PerCpuMap(obj.map('vx_stats'), statKeyCodec, statCodec)
})

afterAll(() => obj?.close())

function checkEncap(input: Bytes, out: Bytes): void {
  expect(out.length).toBe(input.length + 50)
  expect(u16at(out, 12)).toBe(0x0800)
  const ip = readIpv4(out, 14)
  expect(ip).toMatchObject({ version: 4, ihl: 20, proto: 17, ttl: 64, src: WORLD.vtep, dst: '198.18.0.2', checksumOk: true })
  expect(ip.flags & 0b010).toBe(0b010) // DF
  expect(ip.totLen).toBe(out.length - 14)
  const sport = u16at(out, 34)
  expect(sport).toBeGreaterThanOrEqual(49152)
  expect(u16at(out, 36)).toBe(4789)
  expect(u16at(out, 38)).toBe(out.length - 34)
  expect(u16at(out, 40)).toBe(0) // outer UDP checksum 0
  expect(out[42]).toBe(0x08) // I flag
  expect(u32at(out, 46) >>> 8).toBe(256)
  expect(hex(out.subarray(50))).toBe(hex(input))
}

function checkFragNeeded(input: Bytes, out: Bytes): void {
  expect(out.length).toBe(14 + 20 + 8 + 28)
  expect(macStr(out.subarray(0, 6))).toBe(SENDER.mac)
  expect(macStr(out.subarray(6, 12))).toBe('02:42:0a:00:01:05')
  const ip = readIpv4(out, 14)
  expect(ip).toMatchObject({ proto: 1, src: '10.0.1.5', dst: SENDER.ip, checksumOk: true, totLen: 56 })
  expect(out[34]).toBe(3) // destination unreachable
  expect(out[35]).toBe(4) // fragmentation needed
  expect(u16at(out, 40)).toBe(1450) // next-hop MTU
  expect(inetChecksum(out.subarray(34))).toBe(0)
  expect(hex(out.subarray(42))).toBe(hex(input.subarray(14, 14 + 28)))
  expect(ipStr(out.subarray(42 + 12, 42 + 16))).toBe(SENDER.ip)
}

function runCase(c: PacketCase): void {
  const before = snapshot()
  const r = testRun(obj.program(c.program), c.frame)
  expect(r.retval).toBe(c.verdict)
  const changed = moved(before, snapshot())
  if (c.counter) {
    const id = COUNTER_IDS[c.counter.name]
    expect(id).toBeDefined()
    expect(changed).toEqual([`${c.counter.vni}:${id}`])
    const key = `${c.counter.vni}:${id}`
    expect(snapshot().get(key)! - (before.get(key) ?? 0n)).toBe(1n)
  } else {
    expect(changed).toEqual([])
  }
  if (c.output) expect(hex(r.output)).toBe(hex(c.output))
  if (c.outputIs === 'vxlan-encap') checkEncap(c.frame, r.output)
  if (c.outputIs === 'frag-needed') checkFragNeeded(c.frame, r.output)
  if (c.verdict === 2 /* shot */ || (c.verdict === 0 && !c.output)) {
    // dropped or passed frames must leave the program unchanged
    expect(hex(r.output)).toBe(hex(c.frame))
  }
}

describe('vx_from_ul (underlay ingress) on packet fixtures', () => {
  for (const c of UNDERLAY_CASES) test(c.name, () => runCase(c))
})

describe('vx_from_ep (endpoint egress) on packet fixtures', () => {
  for (const c of ENDPOINT_CASES) test(c.name, () => runCase(c))
})

describe('outer UDP source port', () => {
  test('differs between inner flows and stays in 49152..65535', () => {
    const ports = new Set<number>()
    for (let i = 0; i < 32; i++) {
      // a different inner UDP flow each time
      const frame = eth('02:42:0a:00:01:05', SENDER.mac, ETH_P_IP, ipv4({
        src: SENDER.ip, dst: '10.0.1.5', proto: 17, payload: udp(30000 + i, 9999, new Uint8Array(16)),
      }))
      const r = testRun(obj.program('vx_from_ep'), frame)
      expect(r.retval).toBe(TC_ACT_REDIRECT)
      const sport = u16at(r.output, 34)
      expect(sport).toBeGreaterThanOrEqual(49152)
      expect(sport).toBeLessThanOrEqual(65535)
      ports.add(sport)
    }
    expect(ports.size).toBeGreaterThan(8)
  })
})
