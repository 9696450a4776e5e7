// The BPF half of the way out (bpf/lib/way_out.h, bpf/lib/gateway.h) on crafted packets with
// BPF_PROG_TEST_RUN, on a private (unpinned) copy of the object: the gateway's ARP and ping,
// isolation from every other weft subnet, --internal, and the pass up to the host stack.
// Checks the verdict, the output frame and that exactly the expected counter moved.
// Needs root (loads BPF); fails loudly without it.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { openObject, PerCpuMap, sumCounters, testRun, TypedMap, u32, type LoadedObject } from '../../src/bpf/index.ts'
import {
  CFG_F_EGRESS, CFG_F_VALID, configCodec, Counter, DROP_CODES, epCodec, epKeyCodec, ifCodec, NET_F_INTERNAL, netCodec,
  statCodec, statKeyCodec, subnetCodec, subnetKeyCodec, VXLAN_PORT,
} from '../../src/datapath/bpf/abi.ts'
import { bpfObjectBytes } from '../../src/embedded/index.ts'
import { ipv4ToInt } from '../../src/net/index.ts'
import { requireRoot } from '../harness/index.ts'
import {
  arp, BROADCAST, ETH_P_ARP, ETH_P_IP, eth, hex, icmpEcho, inetChecksum, ipv4, macStr, readIpv4, udp, type Bytes,
} from '../datapath/fixtures/packets.ts'

const TC_ACT_OK = 0
const TC_ACT_SHOT = 2
const TC_ACT_REDIRECT = 7
const RUN_IFINDEX = 1 // test runs see the runner's loopback as skb->dev

const NETS = [
  { vni: 256, subnet: '10.0.1.0', prefixLen: 24, gateway: '10.0.1.1', internal: false },
  { vni: 258, subnet: '10.0.3.0', prefixLen: 24, gateway: '10.0.3.1', internal: true },
]
/** Every subnet of the cluster: 257 has no endpoint on this host (it is in vx_subnets only). */
const SUBNETS = [
  { vni: 256, subnet: '10.0.1.0', prefixLen: 24 },
  { vni: 257, subnet: '10.0.2.0', prefixLen: 24 },
  { vni: 258, subnet: '10.0.3.0', prefixLen: 24 },
]
const OUTSIDE = '198.18.0.100'
const HOST_VETH_MAC = '0e:00:00:00:00:01'
const gwMac = (gw: string) => `02:42:${gw.split('.').map((b) => Number(b).toString(16).padStart(2, '0')).join(':')}`

let obj: LoadedObject
let stats: PerCpuMap<{ vni: number; counter: number }, { packets: bigint; bytes: bigint }>
let cfg: TypedMap<number, { vtepIp: number; ulIfindex: number; udpPort: number; flags: number }>
const me = { vni: 256, ip: '10.0.1.2', mac: '02:42:0a:00:01:02' }

const macBytes = (s: string) => Uint8Array.from(s.split(':').map((h) => parseInt(h, 16)))

/** Put the sender (the endpoint on RUN_IFINDEX) into network `vni` with address `ip`. */
function sendFrom(vni: number, ip: string): void {
  me.vni = vni
  me.ip = ip
  me.mac = `02:42:${ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0')).join(':')}`
  new TypedMap(obj.map('vx_ifs'), u32, ifCodec).update(RUN_IFINDEX, { vni, ip: ipv4ToInt(ip), mac: macBytes(me.mac) })
  new TypedMap(obj.map('vx_eps'), epKeyCodec, epCodec).update({ vni, ip: ipv4ToInt(ip) }, { ifindex: RUN_IFINDEX, vtep: 0, mac: macBytes(me.mac) })
}

function setEgress(on: boolean): void {
  cfg.update(0, { vtepIp: ipv4ToInt('198.18.0.1'), ulIfindex: RUN_IFINDEX, udpPort: VXLAN_PORT, flags: CFG_F_VALID | (on ? CFG_F_EGRESS : 0) })
}

function counters(): Map<string, bigint> {
  const out = new Map<string, bigint>()
  for (const [k, v] of stats.entries()) out.set(`${k.vni}:${k.counter}`, sumCounters(v).packets)
  return out
}

const COUNTERS: Record<string, number> = { arp_reply: Counter.ARP_REPLY, out: Counter.OUT, gw_echo: Counter.GW_ECHO, ...DROP_CODES }

/** Runs vx_from_ep on `frame`; checks the verdict and that only `counter` moved, by one. */
function run(frame: Bytes, verdict: number, counter: string): Bytes {
  const before = counters()
  const r = testRun(obj.program('vx_from_ep'), frame)
  expect(r.retval).toBe(verdict)
  const after = counters()
  const moved = [...new Set([...before.keys(), ...after.keys()])].filter((k) => (after.get(k) ?? 0n) !== (before.get(k) ?? 0n))
  const key = `${me.vni}:${COUNTERS[counter]}`
  expect(moved).toEqual([key])
  expect(after.get(key)! - (before.get(key) ?? 0n)).toBe(1n)
  if (verdict !== TC_ACT_REDIRECT) expect(hex(r.output)).toBe(hex(frame)) // dropped or passed unchanged
  return r.output
}

const ping = (dst: string, dstMac: string) =>
  eth(dstMac, me.mac, ETH_P_IP, ipv4({ src: me.ip, dst, proto: 1, df: true, payload: icmpEcho(7, 1, new Uint8Array(56).fill(0x5a)) }))
const udpTo = (dst: string, dstMac: string) =>
  eth(dstMac, me.mac, ETH_P_IP, ipv4({ src: me.ip, dst, proto: 17, payload: udp(40000, 53, new Uint8Array(16)) }))

beforeAll(() => {
  requireRoot()
  obj = openObject(bpfObjectBytes('vxlan'), { name: 'vxlan-wayout' }).load()
  cfg = new TypedMap(obj.map('vx_cfg'), u32, configCodec)
  setEgress(true)
  const nets = new TypedMap(obj.map('vx_nets'), u32, netCodec)
  for (const n of NETS) {
    nets.update(n.vni, {
      mtu: 1450, subnet: ipv4ToInt(n.subnet), gateway: ipv4ToInt(n.gateway), prefixLen: n.prefixLen, flags: n.internal ? NET_F_INTERNAL : 0,
    })
  }
  const subnets = new TypedMap(obj.map('vx_subnets'), subnetKeyCodec, subnetCodec)
  for (const s of SUBNETS) subnets.update({ prefixlen: s.prefixLen, addr: ipv4ToInt(s.subnet) }, { vni: s.vni })
  stats = new PerCpuMap(obj.map('vx_stats'), statKeyCodec, statCodec)
  sendFrom(256, '10.0.1.2')
})

afterAll(() => obj?.close())

describe('the gateway, answered in BPF', () => {
  test('ARP for the gateway is answered with 02:42 + its address', () => {
    sendFrom(256, '10.0.1.2')
    const out = run(eth(BROADCAST, me.mac, ETH_P_ARP, arp(1, me.mac, me.ip, '00:00:00:00:00:00', '10.0.1.1')), TC_ACT_REDIRECT, 'arp_reply')
    expect(hex(out)).toBe(hex(eth(me.mac, gwMac('10.0.1.1'), ETH_P_ARP, arp(2, gwMac('10.0.1.1'), '10.0.1.1', me.mac, me.ip))))
  })

  test('a ping to the gateway comes back as an echo reply from it, checksums right', () => {
    const out = run(ping('10.0.1.1', gwMac('10.0.1.1')), TC_ACT_REDIRECT, 'gw_echo')
    expect(macStr(out.subarray(0, 6))).toBe(me.mac)
    expect(macStr(out.subarray(6, 12))).toBe(gwMac('10.0.1.1'))
    expect(readIpv4(out, 14)).toMatchObject({ proto: 1, src: '10.0.1.1', dst: me.ip, checksumOk: true })
    expect(out[34]).toBe(0) // echo reply
    expect(inetChecksum(out.subarray(34))).toBe(0)
    // identifier, sequence and payload as sent
    expect(hex(out.subarray(38))).toBe(hex(ping('10.0.1.1', gwMac('10.0.1.1')).subarray(38)))
  })

  test('anything else to the gateway is dropped as unknown_dst (it serves nothing but ping)', () => {
    run(udpTo('10.0.1.1', gwMac('10.0.1.1')), TC_ACT_SHOT, 'unknown_dst')
  })
})

describe('leaving the network', () => {
  test('to outside every weft subnet: passed up to the host stack, unchanged, counted as out', () => {
    sendFrom(256, '10.0.1.2')
    run(udpTo(OUTSIDE, gwMac('10.0.1.1')), TC_ACT_OK, 'out')
    // also when addressed to the host veth's own MAC
    run(udpTo(OUTSIDE, HOST_VETH_MAC), TC_ACT_OK, 'out')
  })

  test("to another network's subnet, even one with no endpoint on this host: foreign_net", () => {
    run(udpTo('10.0.2.9', gwMac('10.0.1.1')), TC_ACT_SHOT, 'foreign_net')
    run(ping('10.0.3.5', gwMac('10.0.1.1')), TC_ACT_SHOT, 'foreign_net')
  })

  test('to an unknown address of its own subnet: unknown_dst, as before', () => {
    run(udpTo('10.0.1.99', gwMac('10.0.1.1')), TC_ACT_SHOT, 'unknown_dst')
  })

  test("without the host side of the way out set up: no_way_out", () => {
    setEgress(false)
    try {
      run(udpTo(OUTSIDE, gwMac('10.0.1.1')), TC_ACT_SHOT, 'no_way_out')
    } finally {
      setEgress(true)
    }
  })
})

describe('an --internal network', () => {
  test('nothing leaves it: outside is dropped as internal, other networks as foreign_net', () => {
    sendFrom(258, '10.0.3.2')
    run(udpTo(OUTSIDE, gwMac('10.0.3.1')), TC_ACT_SHOT, 'internal')
    run(udpTo('198.18.0.1', gwMac('10.0.3.1')), TC_ACT_SHOT, 'internal') // its host's address too
    run(udpTo('10.0.1.2', gwMac('10.0.3.1')), TC_ACT_SHOT, 'foreign_net')
  })

  test('its gateway still answers ping (answered in place, nothing leaves)', () => {
    run(ping('10.0.3.1', gwMac('10.0.3.1')), TC_ACT_REDIRECT, 'gw_echo')
  })
})
