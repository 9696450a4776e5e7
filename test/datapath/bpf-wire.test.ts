// The bpf datapath on a real (simulated) wire: what only real packets between namespaces show.
//
//   h1 198.18.0.1 (weft bpf)        h2 198.18.0.2 (weft bpf)      h3 198.18.0.3 (plain kernel vxlan)
//     c1 10.0.1.2  VNI 256            c1 10.0.1.5  VNI 256          x1 10.0.1.9 VNI 256
//     c2 10.0.1.3  VNI 256                                          (vxlan id 256 nolearning,
//     c3 10.0.2.2  VNI 257 (members: h2 only)                        static fdb + neighbours)
//
// Underlay in wire mode (1500-byte frames, GRO on receive). Proves: interop with kernel vxlan
// both ways (ping + TCP); tshark decodes weft's packets as VXLAN with the VNI; same-host traffic
// and ARP never reach the underlay; broadcast is dropped and counted; counters match traffic;
// crafted bad VXLAN sent from other hosts is dropped, never delivered, counted by reason; live
// restore under a ping flood and a TCP stream. The test process never touches the root netns.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ActualState, LocalEndpointSpec, NetworkSpec } from '../../src/datapath/types.ts'
import { hostIfnameFor, macFromIp } from '../../src/net/index.ts'
import {
  createTopology,
  mustRunIn,
  ping,
  runIn,
  spawnIn,
  tcpTransfer,
  waitFor,
  type NsProcess,
  type Topology,
} from '../harness/index.ts'
import { startDriver, type DriverHandle } from './driver-client.ts'
import { concat, eth, ETH_P_IP, hex, ipv4, udp, vxlan } from './fixtures/packets.ts'

interface WireStats {
  vni: number
  txPackets: string
  txBytes: string
  rxPackets: string
  rxBytes: string
  drops: Record<string, string>
  localPackets: string
  arpReplies: string
  fragNeeded: string
}

const N: NetworkSpec = {
  id: '1'.repeat(64),
  vni: 256,
  subnet: '10.0.1.0/24',
  gateway: '10.0.1.1',
  mtu: 1450,
}
const M: NetworkSpec = {
  id: '2'.repeat(64),
  vni: 257,
  subnet: '10.0.2.0/24',
  gateway: '10.0.2.1',
  mtu: 1450,
}

let topo: Topology
const drivers: DriverHandle[] = []
let tmp: string
const eps: Record<
  string,
  { host: number; net: NetworkSpec; ip: string; ns?: string; spec?: LocalEndpointSpec }
> = {
  c1: { host: 0, net: N, ip: '10.0.1.2' },
  c2: { host: 0, net: N, ip: '10.0.1.3' },
  c3: { host: 0, net: M, ip: '10.0.2.2' },
  d1: { host: 1, net: N, ip: '10.0.1.5' },
}
const X1 = { ip: '10.0.1.9', mac: macFromIp('10.0.1.9') }
const M_REMOTE = '10.0.2.9'
let x1ns = ''
const ns = (n: string) => eps[n]!.ns!
const vtep = (h: number) => topo.hosts[h]!.underlay.ip
const hostNs = (h: number) => topo.hosts[h]!.ns

const startHost = async (h: number) => {
  const host = topo.hosts[h]!
  const d = startDriver(host.ns, 'bpf', host.node, host.underlay.ip)
  drivers[h] = d
  topo.track(() => d.stop(2000))
  await d.call('start')
  return d
}

async function stats(h: number, vni: number): Promise<WireStats> {
  const all = await drivers[h]!.call<WireStats[]>('stats')
  return all.find((s) => s.vni === vni)!
}

/** Drops by reason summed over every VNI (some reasons count under VNI 0). */
async function drops(h: number): Promise<Record<string, bigint>> {
  const out: Record<string, bigint> = {}
  for (const s of await drivers[h]!.call<WireStats[]>('stats')) {
    for (const [k, v] of Object.entries(s.drops)) out[k] = (out[k] ?? 0n) + BigInt(v)
  }
  return out
}

const big = (s: string | undefined) => BigInt(s ?? 0)

/** tcpdump on a host's underlay (or `iface`), text output; stop() ends it. */
async function capture(
  h: number,
  filter: string,
  file?: string,
  count?: number,
  iface = 'ul0',
): Promise<NsProcess> {
  // --immediate-mode: hand over each packet at once (else they sit in the ring until a timeout)
  const args = ['tcpdump', '-i', iface, '-n', '-l', '-p', '-U', '--immediate-mode']
  if (count) args.push('-c', String(count))
  // -Z root: Debian's tcpdump otherwise drops to user tcpdump and cannot write into our 0700 dir
  if (file) args.push('-Z', 'root', '-w', file)
  const p = spawnIn(hostNs(h), [...args, filter])
  await waitFor(() => /listening on/.test(p.stderr()), { what: `tcpdump on h${h + 1} ul0` })
  return p
}

/** A UDP listener on port 9999 in `nsName` printing every datagram; prints "ready" first. */
function udpReceiver(nsName: string): NsProcess {
  return spawnIn(nsName, [
    'python3',
    '-u',
    '-c',
    [
      'import socket',
      's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      "s.bind(('0.0.0.0', 9999))",
      "print('ready', flush=True)",
      'while True:',
      '    d, a = s.recvfrom(4096)',
      "    print(d.decode(errors='replace'), flush=True)",
    ].join('\n'),
  ])
}

/** An inner Ethernet/IPv4/UDP frame to port 9999 carrying `marker`. */
const inner = (dstIp: string, marker: string, srcIp = '10.0.1.5') =>
  eth(
    macFromIp(dstIp),
    macFromIp(srcIp),
    ETH_P_IP,
    ipv4({
      src: srcIp,
      dst: dstIp,
      proto: 17,
      payload: udp(40000, 9999, new TextEncoder().encode(marker)),
    }),
  )

/** Send each VXLAN payload (header + inner frame) from `fromNs` to `to`:4789, source port 50000. */
async function sendVxlan(fromNs: string, to: string, payloads: Uint8Array[]): Promise<void> {
  const r = await runIn(fromNs, [
    'python3',
    '-c',
    "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',50000))\nfor h in sys.argv[2:]: s.sendto(bytes.fromhex(h),(sys.argv[1],4789))",
    to,
    ...payloads.map(hex),
  ])
  expect(r.code).toBe(0)
}

/** Frames the GRO device (wfgro) received, i.e. that the kernel's vxlan driver decapsulated. */
async function groRxPackets(hostNsName: string): Promise<number> {
  const out = await mustRunIn(hostNsName, ['ip', '-j', '-s', 'link', 'show', 'dev', 'wfgro'])
  return (JSON.parse(out.stdout) as { stats64: { rx: { packets: number } } }[])[0]!.stats64.rx
    .packets
}

async function pingOk(fromNs: string, ip: string) {
  await waitFor(
    async () => (await ping(fromNs, ip, { count: 1, timeoutMs: 1000 })).received === 1,
    {
      timeoutMs: 10_000,
      what: `ping ${ip} from ${fromNs}`,
    },
  )
  expect((await ping(fromNs, ip, { count: 3, intervalS: 0.05 })).received).toBe(3)
}

/** Build h3: a plain kernel vxlan host (what an external VTEP looks like). */
async function buildKernelVxlanHost(): Promise<void> {
  const h3 = hostNs(2)
  x1ns = (await topo.addContainer(2)).ns
  const lines = [
    `link add vx256 type vxlan id 256 local ${vtep(2)} dstport 4789 nolearning`,
    'link add br256 type bridge',
    'link set vx256 master br256 up',
    'link set br256 up',
    `link add kx1 type veth peer name eth0 netns /run/netns/${x1ns}`,
    'link set kx1 master br256 up',
  ]
  await mustRunIn(h3, ['ip', '-batch', '-'], { stdin: lines.join('\n') + '\n' })
  await mustRunIn(x1ns, [
    'ip',
    'link',
    'set',
    'eth0',
    'address',
    X1.mac,
    'mtu',
    '1450',
    'addrgenmode',
    'none',
  ])
  await mustRunIn(x1ns, ['ip', 'addr', 'add', `${X1.ip}/24`, 'dev', 'eth0'])
  await mustRunIn(x1ns, ['ip', 'link', 'set', 'eth0', 'up'])
  // Static FDB + neighbours for the weft endpoints: weft does not answer ARP over the tunnel.
  for (const e of Object.values(eps).filter((x) => x.net === N)) {
    await mustRunIn(h3, [
      'bridge',
      'fdb',
      'append',
      macFromIp(e.ip),
      'dev',
      'vx256',
      'dst',
      vtep(e.host),
      'self',
      'permanent',
    ])
    await mustRunIn(x1ns, [
      'ip',
      'neigh',
      'replace',
      e.ip,
      'lladdr',
      macFromIp(e.ip),
      'dev',
      'eth0',
      'nud',
      'permanent',
    ])
  }
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'weft-wire-'))
  topo = await createTopology({ hosts: 3, wire: true })
  for (const e of Object.values(eps)) e.ns = (await topo.addContainer(e.host)).ns
  for (const h of [0, 1]) await startHost(h)
  for (const h of [0, 1]) await drivers[h]!.call('upsertNetwork', [N])
  await drivers[0]!.call('upsertNetwork', [M])
  for (const [name, e] of Object.entries(eps)) {
    const id = Buffer.from(name.padEnd(32, '0')).toString('hex')
    e.spec = {
      id,
      vni: e.net.vni,
      ip: e.ip,
      mac: macFromIp(e.ip),
      sandbox: e.ns!,
      ifname: 'eth0',
      hostIfname: hostIfnameFor(id),
    }
    await drivers[e.host]!.call('attachEndpoint', [e.spec])
  }
  await drivers[0]!.call('setMembers', [N.vni, [vtep(1), vtep(2)]])
  await drivers[0]!.call('setMembers', [M.vni, [vtep(1)]])
  await drivers[1]!.call('setMembers', [N.vni, [vtep(0), vtep(2)]])
  for (const h of [0, 1]) {
    for (const e of Object.values(eps)) {
      if (e.host !== h && e.net === N) {
        await drivers[h]!.call('upsertRemoteEndpoint', [
          { vni: N.vni, ip: e.ip, mac: macFromIp(e.ip), vtep: vtep(e.host) },
        ])
      }
    }
    await drivers[h]!.call('upsertRemoteEndpoint', [
      { vni: N.vni, ip: X1.ip, mac: X1.mac, vtep: vtep(2) },
    ])
  }
  // a remote endpoint of VNI 257 behind h2, source of the crafted VNI 257 packets
  await drivers[0]!.call('upsertRemoteEndpoint', [
    { vni: M.vni, ip: M_REMOTE, mac: macFromIp(M_REMOTE), vtep: vtep(1) },
  ])
  await buildKernelVxlanHost()
}, 90_000)

afterAll(async () => {
  for (const d of drivers) await d?.call('teardown').catch(() => {})
  await topo?.destroy()
  if (tmp) rmSync(tmp, { recursive: true, force: true })
}, 60_000)

describe('bpf datapath on the wire', () => {
  test('a plain kernel-vxlan host and weft hosts ping each other, both ways', async () => {
    await pingOk(ns('c1'), X1.ip)
    await pingOk(x1ns, eps.c1!.ip)
    await pingOk(x1ns, eps.d1!.ip)
    await pingOk(ns('d1'), X1.ip)
  }, 60_000)

  test('TCP with the kernel-vxlan host arrives intact, both ways', async () => {
    const a = await tcpTransfer(ns('c1'), x1ns, X1.ip, { bytes: 20_000_000, timeoutMs: 60_000 })
    expect(a.ok).toBe(true)
    const b = await tcpTransfer(x1ns, ns('c1'), eps.c1!.ip, {
      bytes: 20_000_000,
      timeoutMs: 60_000,
    })
    expect(b.ok).toBe(true)
  }, 120_000)

  test("tshark decodes weft's packets on the underlay as VXLAN (I flag, VNI 256, UDP 4789)", async () => {
    const file = join(tmp, 'vxlan.pcap')
    const cap = await capture(0, 'udp port 4789', file, 6)
    try {
      expect((await ping(ns('c1'), eps.d1!.ip, { count: 3, intervalS: 0.05 })).received).toBe(3)
      // tcpdump exits by itself after 3 requests + 3 replies: the file is complete
      await waitFor(() => cap.stderr().includes('6 packets captured'), {
        what: 'tcpdump wrote 6 packets',
      })
    } finally {
      await cap.stop(500)
    }
    const r = await runIn(hostNs(0), [
      'tshark',
      '-r',
      file,
      '-T',
      'fields',
      '-E',
      'separator=,',
      '-E',
      'aggregator=;',
      '-e',
      'ip.src',
      '-e',
      'ip.dst',
      '-e',
      'udp.dstport',
      '-e',
      'vxlan.flag_i',
      '-e',
      'vxlan.vni',
      '-e',
      'icmp.type',
    ])
    expect(r.code).toBe(0)
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(','))
    // ip.src/ip.dst list outer then inner: "198.18.0.1;10.0.1.2"
    const requests = rows.filter((f) => f[0] === `${vtep(0)};${eps.c1!.ip}`)
    const replies = rows.filter((f) => f[0] === `${vtep(1)};${eps.d1!.ip}`)
    expect(requests.length).toBe(3)
    expect(replies.length).toBe(3)
    for (const f of [...requests, ...replies]) {
      expect(f[2]).toBe('4789')
      expect(['1', 'True']).toContain(f[3]!)
      expect(f[4]).toBe('256')
    }
    expect(requests.every((f) => f[1] === `${vtep(1)};${eps.d1!.ip}` && f[5] === '8')).toBe(true)
  }, 30_000)

  test('same-host traffic and ARP never touch the underlay', async () => {
    await mustRunIn(ns('c1'), ['ip', 'neigh', 'flush', 'dev', 'eth0'])
    const before = await stats(0, N.vni)
    const cap = await capture(0, 'udp port 4789 or arp')
    let out = ''
    try {
      expect((await ping(ns('c1'), eps.c2!.ip, { count: 5, intervalS: 0.05 })).received).toBe(5)
      // positive control: the same capture does see cross-host traffic
      expect((await ping(ns('c1'), eps.d1!.ip, { count: 1 })).received).toBe(1)
      await waitFor(() => cap.stdout().includes(`${eps.c1!.ip} > ${eps.d1!.ip}`), {
        what: 'capture of c1 -> d1',
      })
    } finally {
      await cap.stop(500)
      out = cap.stdout()
    }
    const after = await stats(0, N.vni)
    expect(out).not.toContain(eps.c2!.ip)
    expect(out).not.toMatch(/ARP.*10\.0\.1\./)
    expect(big(after.localPackets) - big(before.localPackets)).toBeGreaterThanOrEqual(10n) // 5 requests + 5 replies
    expect(big(after.arpReplies) - big(before.arpReplies)).toBeGreaterThanOrEqual(1n)
    expect(big(after.txPackets) - big(before.txPackets)).toBe(1n) // only the control ping left the host
  }, 30_000)

  // Regression (bench 2026-11-21: 427,890 retransmits in 10 s vs 60,515 for the kernel datapath):
  // local switching by bpf_redirect_peer delivered a TCP flow that the sender's veth had spread
  // over two CPUs' backlogs straight into the receiving socket, and TCP saw the reordering as
  // loss (spurious fast retransmits, DSACKed; no drops). Measured against Docker's layout (two
  // veths on one bridge, h3) in the same test, alternating, same pinning as bench/. Before the
  // fix: bpf ~6-13x the bridge; after: ~1x. The bound (3x + 10k over two 3 s rounds) leaves
  // room for this VM's noise and still fails the old code by a wide margin.
  test('same-host TCP: retransmits stay near the kernel bridge (no reordering from local switching)', async () => {
    const x2 = (await topo.addContainer(2)).ns
    const X2 = '10.0.1.10'
    await mustRunIn(hostNs(2), [
      'ip',
      'link',
      'add',
      'kx2',
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      `/run/netns/${x2}`,
    ])
    await mustRunIn(hostNs(2), ['ip', 'link', 'set', 'kx2', 'master', 'br256', 'up'])
    await mustRunIn(x2, [
      'ip',
      'link',
      'set',
      'eth0',
      'address',
      macFromIp(X2),
      'mtu',
      '1450',
      'addrgenmode',
      'none',
      'up',
    ])
    await mustRunIn(x2, ['ip', 'addr', 'add', `${X2}/24`, 'dev', 'eth0'])
    const pairs = [
      { name: 'bpf', client: ns('c1'), server: ns('c2'), ip: eps.c2!.ip },
      { name: 'bridge', client: x1ns, server: x2, ip: X2 },
    ]
    const servers = pairs.map((p) =>
      spawnIn(p.server, ['taskset', '-c', '1', 'iperf3', '-s', '-B', p.ip]),
    )
    try {
      for (const p of pairs) {
        await waitFor(
          async () =>
            (await runIn(p.server, ['ss', '-ltnH', 'sport', '= :5201'])).stdout.includes('5201'),
          {
            what: `iperf3 server in ${p.server}`,
          },
        )
      }
      const retrans: Record<string, number> = { bpf: 0, bridge: 0 }
      const dropsBefore = await drops(0)
      const localBefore = big((await stats(0, N.vni)).localPackets)
      for (let round = 0; round < 2; round++) {
        for (const p of pairs) {
          const r = await runIn(p.client, [
            'taskset',
            '-c',
            '0',
            'iperf3',
            '-c',
            p.ip,
            '-t',
            '3',
            '-J',
          ])
          const j = JSON.parse(r.stdout) as {
            error?: string
            end?: { sum_sent: { retransmits: number; bytes: number } }
          }
          if (!j.end) throw new Error(`iperf3 ${p.name}: ${j.error ?? r.stderr}`)
          expect(j.end.sum_sent.bytes).toBeGreaterThan(100_000_000)
          retrans[p.name]! += j.end.sum_sent.retransmits
        }
      }
      console.log(
        `same-host TCP retransmits over 2 x 3 s: bpf ${retrans.bpf}, kernel bridge ${retrans.bridge}`,
      )
      const dropsAfter = await drops(0)
      for (const [k, v] of Object.entries(dropsAfter))
        expect(`${k}: ${v - (dropsBefore[k] ?? 0n)}`).toBe(`${k}: 0`)
      expect(big((await stats(0, N.vni)).localPackets) - localBefore).toBeGreaterThan(10_000n)
      expect(retrans.bpf!).toBeLessThanOrEqual(3 * retrans.bridge! + 10_000)
    } finally {
      for (const s of servers) await s.stop()
    }
  }, 60_000)

  test('broadcast from a container is dropped and counted (bum), nothing reaches the underlay', async () => {
    const before = await drops(0)
    const cap = await capture(0, 'udp port 4789')
    try {
      await runIn(ns('c1'), ['ping', '-b', '-c', '3', '-i', '0.05', '-W', '1', '10.0.1.255'])
    } finally {
      await cap.stop(500)
    }
    expect(cap.stdout()).not.toContain('10.0.1.255')
    const after = await drops(0)
    expect((after.bum ?? 0n) - (before.bum ?? 0n)).toBeGreaterThanOrEqual(3n)
  }, 30_000)

  test('counters match the traffic: 100 pings -> 100 tx on the sender, 100 rx on the receiver', async () => {
    const [s0, s1] = [await stats(0, N.vni), await stats(1, N.vni)]
    const r = await ping(ns('c1'), eps.d1!.ip, { count: 100, intervalS: 0.005 })
    expect(r.received).toBe(100)
    const [t0, t1] = [await stats(0, N.vni), await stats(1, N.vni)]
    const d = (a: string, b: string) => big(b) - big(a)
    for (const [n, lo, hi] of [
      [d(s0.txPackets, t0.txPackets), 100n, 105n],
      [d(s1.rxPackets, t1.rxPackets), 100n, 105n],
      [d(s1.txPackets, t1.txPackets), 100n, 105n],
      [d(s0.rxPackets, t0.rxPackets), 100n, 105n],
    ] as const) {
      expect(n).toBeGreaterThanOrEqual(lo)
      expect(n).toBeLessThanOrEqual(hi)
    }
    // 84-byte ICMP packets + 14 bytes inner Ethernet
    expect(d(s0.txBytes, t0.txBytes)).toBeGreaterThanOrEqual(100n * 98n)
  }, 30_000)

  test('crafted VXLAN from other hosts: bad packets are dropped by reason and never delivered', async () => {
    const r1 = udpReceiver(ns('c1'))
    const r3 = udpReceiver(ns('c3'))
    try {
      await waitFor(() => r1.stdout().includes('ready') && r3.stdout().includes('ready'), {
        what: 'UDP receivers',
      })
      const send = (h: number, payloads: Uint8Array[]) => sendVxlan(hostNs(h), vtep(0), payloads)
      const before = await drops(0)
      const bad = {
        notVxlanFlag: vxlan(N.vni, inner('10.0.1.2', 'BAD-flag'), 0x00),
        unknownVni: vxlan(999, inner('10.0.1.2', 'BAD-vni')),
        truncated: vxlan(N.vni, inner('10.0.1.2', 'BAD-trunc')).subarray(0, 4),
        truncatedInner: vxlan(N.vni, inner('10.0.1.2', 'BAD-inner')).subarray(0, 8 + 14 + 10),
        unknownDst: vxlan(N.vni, inner('10.0.1.77', 'BAD-dst')),
      }
      await send(1, Object.values(bad))
      // VNI 257 admits only h2: h3 is not a member (the inner destination exists there).
      await send(2, [vxlan(M.vni, inner('10.0.2.2', 'BAD-member', M_REMOTE))])
      // h2 is a member of VNI 256 but speaks for its own endpoints only, not for h3's x1.
      await send(1, [vxlan(N.vni, inner('10.0.1.2', 'BAD-impersonation', X1.ip))])
      // Positive controls, sent after the bad ones on the same paths.
      await send(1, [
        vxlan(N.vni, inner('10.0.1.2', 'OK-256')),
        vxlan(M.vni, inner('10.0.2.2', 'OK-257', M_REMOTE)),
      ])
      await waitFor(() => r1.stdout().includes('OK-256') && r3.stdout().includes('OK-257'), {
        what: 'valid crafted VXLAN delivered',
      })
      expect(r1.stdout()).not.toContain('BAD')
      expect(r3.stdout()).not.toContain('BAD')
      const after = await drops(0)
      const grew = (k: string) => (after[k] ?? 0n) - (before[k] ?? 0n)
      expect(grew('not_vxlan_flag')).toBe(1n)
      expect(grew('unknown_vni')).toBe(1n)
      expect(grew('truncated')).toBe(2n)
      expect(grew('unknown_dst')).toBe(1n)
      expect(grew('vtep_not_member')).toBe(1n)
      expect(grew('inner_src_spoof')).toBe(1n)
      const m = await stats(0, M.vni)
      expect(big(m.drops.vtep_not_member)).toBeGreaterThanOrEqual(1n)
    } finally {
      await r1.stop(200)
      await r3.stop(200)
    }
  }, 30_000)

  test('VXLAN around the admission is decapsulated by nobody: to a second address of the host, to the VTEP through a second NIC', async () => {
    const h1 = hostNs(0)
    const second = '198.18.0.101'
    // a second address on h1's underlay NIC, and a second NIC towards a namespace off the underlay
    const outside = (await topo.addContainer(0)).ns
    await mustRunIn(h1, ['ip', 'addr', 'add', `${second}/32`, 'dev', 'ul0'])
    await mustRunIn(h1, [
      'ip',
      'link',
      'add',
      'ul1',
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      `/run/netns/${outside}`,
    ])
    await mustRunIn(h1, ['ip', 'addr', 'add', '192.0.2.1/24', 'dev', 'ul1'])
    await mustRunIn(h1, ['ip', 'link', 'set', 'ul1', 'up'])
    await mustRunIn(outside, ['ip', 'addr', 'add', '192.0.2.2/24', 'dev', 'eth0'])
    await mustRunIn(outside, ['ip', 'link', 'set', 'eth0', 'up'])
    await mustRunIn(outside, ['ip', 'route', 'add', `${vtep(0)}/32`, 'via', '192.0.2.1'])
    const r1 = udpReceiver(ns('c1'))
    const cap = await capture(
      0,
      `udp port 4789 and (dst host ${second} or src host 192.0.2.2)`,
      undefined,
      undefined,
      'any',
    )
    try {
      await waitFor(() => r1.stdout().includes('ready'), { what: 'UDP receiver in c1' })
      const gro0 = await groRxPackets(h1)
      // Well-formed VXLAN of a real network (x1 behind h3, to c1): only the path is wrong.
      await sendVxlan(hostNs(2), second, [
        vxlan(N.vni, inner('10.0.1.2', 'AROUND-second-address', X1.ip)),
      ])
      await sendVxlan(outside, vtep(0), [
        vxlan(N.vni, inner('10.0.1.2', 'AROUND-second-nic', X1.ip)),
      ])
      // both reached h1 (so the test cannot pass by the packets getting lost on the way)
      await waitFor(
        () =>
          cap.stdout().includes(`> ${second}.4789`) &&
          cap.stdout().includes(`192.0.2.2.50000 > ${vtep(0)}.4789`),
        {
          what: 'h1 to receive both crafted packets',
        },
      )
      // positive control after them: the same packet through the admission is delivered
      await sendVxlan(hostNs(2), vtep(0), [vxlan(N.vni, inner('10.0.1.2', 'OK-admitted', X1.ip))])
      await waitFor(() => r1.stdout().includes('OK-admitted'), {
        what: 'admitted VXLAN delivered to c1',
      })
      expect(r1.stdout()).not.toContain('AROUND')
      // the kernel's vxlan driver decapsulated nothing (its RX counter counts what it decapsulates)
      expect(await groRxPackets(h1)).toBe(gro0)
    } finally {
      await cap.stop(500)
      await r1.stop(200)
      await runIn(h1, ['ip', 'link', 'del', 'ul1'])
      await runIn(h1, ['ip', 'addr', 'del', `${second}/32`, 'dev', 'ul0'])
    }
  }, 30_000)

  test('GRO still merges VXLAN before vx_from_ul: a TCP stream is decapsulated in packets far over the MTU', async () => {
    const before = await stats(0, N.vni)
    const tr = await tcpTransfer(ns('d1'), ns('c1'), eps.c1!.ip, {
      bytes: 200_000_000,
      timeoutMs: 60_000,
    })
    expect(tr.ok).toBe(true)
    const after = await stats(0, N.vni)
    const packets = big(after.rxPackets) - big(before.rxPackets)
    const avg = Number((big(after.rxBytes) - big(before.rxBytes)) / packets)
    console.log(
      `[gro] d1 -> c1 over the wire: ${((tr.bytesReceived * 8) / tr.seconds / 1e9).toFixed(2)} Gbit/s, ` +
        `${packets} decapsulated packets of ${avg} bytes on average`,
    )
    // without UDP-tunnel GRO every packet is one wire frame (<= 1464 bytes of inner frame)
    expect(avg).toBeGreaterThan(3 * 1464)
  }, 90_000)

  // Decapsulated TCP goes through the destination's host veth (one more backlog pass, as routing
  // and the bridge deliver: the peer redirect reordered TCP, see bpf/lib/ingress.h "Delivery");
  // ICMP and UDP keep the peer redirect, which never passes the host veth. The host veth's TX
  // counter tells the two paths apart: a peer-redirected packet is not transmitted by it.
  test('decap delivery: TCP through the host veth, ICMP straight into the container', async () => {
    const hostVeth = eps.d1!.spec!.hostIfname
    const txPackets = async () => {
      const out = await mustRunIn(hostNs(1), ['ip', '-j', '-s', 'link', 'show', 'dev', hostVeth])
      return (JSON.parse(out.stdout) as { stats64: { tx: { packets: number } } }[])[0]!.stats64.tx
        .packets
    }
    const s0 = await stats(1, N.vni)
    const p0 = await txPackets()
    expect((await ping(ns('c1'), eps.d1!.ip, { count: 50, intervalS: 0.005 })).received).toBe(50)
    const p1 = await txPackets()
    const s1 = await stats(1, N.vni)
    expect(big(s1.rxPackets) - big(s0.rxPackets)).toBeGreaterThanOrEqual(50n)
    expect(p1 - p0).toBeLessThan(5) // ICMP by peer redirect (nothing else talks to d1 now)
    const tr = await tcpTransfer(ns('c1'), ns('d1'), eps.d1!.ip, {
      bytes: 20_000_000,
      timeoutMs: 30_000,
    })
    expect(tr.ok).toBe(true)
    const s2 = await stats(1, N.vni)
    const p2 = await txPackets()
    const decapsulated = Number(big(s2.rxPackets) - big(s1.rxPackets))
    console.log(
      `[delivery] 20 MB c1 -> d1: ${decapsulated} decapsulated packets, ${p2 - p1} through ${hostVeth}`,
    )
    expect(decapsulated).toBeGreaterThan(100)
    expect(p2 - p1).toBeGreaterThanOrEqual(decapsulated)
  }, 60_000)

  // Encapsulation takes the outer MACs from a per-CPU cache of the kernel's FIB/neighbour answer,
  // used for at most a second (bpf/lib/nbr.h). A wrong destination MAC would still be delivered
  // here (the underlay bridge forwards by its own table, TC ingress runs before the MAC check), so
  // the frames on h1's underlay are what tells: they must carry h2's MAC, and follow a change of
  // it once h1's kernel learns it (gratuitous ARP, arp_notify).
  test("outer MACs: encapsulated frames carry the next hop's MAC and follow its change within seconds", async () => {
    const macOf = async (h: number) => {
      const out = await mustRunIn(hostNs(h), ['ip', '-j', 'link', 'show', 'dev', 'ul0'])
      return (JSON.parse(out.stdout) as { address: string }[])[0]!.address
    }
    const [h1Mac, h2Mac] = [await macOf(0), await macOf(1)]
    const newMac = h2Mac === '02:00:00:0e:e0:02' ? '02:00:00:0e:e0:03' : '02:00:00:0e:e0:02'
    /** (source, destination) MACs of the VXLAN frames h1 sent to h2 so far. */
    const framesOf = (cap: NsProcess) =>
      [...cap.stdout().matchAll(/^\S+ ([0-9a-f:]{17}) > ([0-9a-f:]{17}), ethertype IPv4/gm)].map(
        (m) => ({ src: m[1]!, dst: m[2]! }),
      )
    const setH2Mac = async (mac: string) => {
      await mustRunIn(hostNs(1), ['ip', 'link', 'set', 'dev', 'ul0', 'address', mac])
    }
    // capture() prints no link-level header: -e here
    const eCap = spawnIn(hostNs(0), [
      'tcpdump',
      '-i',
      'ul0',
      '-e',
      '-n',
      '-l',
      '-p',
      '-U',
      '--immediate-mode',
      `udp port 4789 and src host ${vtep(0)} and dst host ${vtep(1)}`,
    ])
    // h2 announces a new MAC with a gratuitous ARP; restored (and announced again) at the end
    await mustRunIn(hostNs(1), ['sysctl', '-qw', 'net.ipv4.conf.ul0.arp_notify=1'])
    try {
      await waitFor(() => /listening on/.test(eCap.stderr()), { what: 'tcpdump -e on h1 ul0' })
      expect((await ping(ns('c1'), eps.d1!.ip, { count: 5, intervalS: 0.05 })).received).toBe(5)
      await waitFor(() => framesOf(eCap).length >= 5, { what: 'tcpdump saw 5 VXLAN frames' })
      expect(framesOf(eCap).every((f) => f.src === h1Mac && f.dst === h2Mac)).toBe(true)

      await setH2Mac(newMac)
      const seen = framesOf(eCap).length
      // every CPU's cache expires within a second: poll until the last 5 frames all carry it
      await waitFor(
        async () => {
          await ping(ns('c1'), eps.d1!.ip, { count: 1, timeoutMs: 1000 })
          const after = framesOf(eCap).slice(seen)
          return after.length >= 5 && after.slice(-5).every((f) => f.dst === newMac)
        },
        { what: `VXLAN frames to h2's new MAC ${newMac}`, timeoutMs: 8000, intervalMs: 100 },
      )
      expect((await ping(ns('c1'), eps.d1!.ip, { count: 3, intervalS: 0.05 })).received).toBe(3)
    } finally {
      await setH2Mac(h2Mac)
      await mustRunIn(hostNs(1), ['sysctl', '-qw', 'net.ipv4.conf.ul0.arp_notify=0'])
      await eCap.stop(500)
    }
  }, 60_000)

  test('live restore: SIGKILL the datapath process under a ping flood and a TCP stream; traffic goes on', async () => {
    const snapshot = await drivers[0]!.call<ActualState>('actual')
    // the endpoint's filter program, by id: the restarted process must swap in its own
    const filterProg = async () => {
      const out = await mustRunIn(topo.hosts[0]!.ns, [
        'tc',
        '-j',
        'filter',
        'show',
        'dev',
        eps.c1!.spec!.hostIfname,
        'ingress',
      ])
      const f = (
        JSON.parse(out.stdout) as {
          kind?: string
          options?: { bpf_name?: string; prog?: { id: number } }
        }[]
      ).find((x) => x.kind === 'bpf' && x.options)
      return { name: f?.options?.bpf_name, id: f?.options?.prog?.id }
    }
    const before = await filterProg()
    expect(before.name).toContain('vx_from_ep')
    const flood = spawnIn(ns('c1'), [
      'ping',
      '-n',
      '-q',
      '-i',
      '0.002',
      '-c',
      '1500',
      '-W',
      '1',
      eps.d1!.ip,
    ])
    const rx0 = big((await stats(1, N.vni)).rxBytes)
    const transfer = tcpTransfer(ns('c1'), ns('d1'), eps.d1!.ip, {
      bytes: 400_000_000,
      timeoutMs: 90_000,
    })
    // Kill once the stream is really flowing.
    await waitFor(async () => big((await stats(1, N.vni)).rxBytes) - rx0 > 20_000_000n, {
      timeoutMs: 20_000,
      what: 'TCP stream under way',
    })
    const t0 = performance.now()
    drivers[0]!.kill('SIGKILL')
    await drivers[0]!.exited
    const d = await startHost(0) // adopts the pinned maps, swaps programs on pinned links
    const restartMs = performance.now() - t0
    expect(await d.call<ActualState>('actual')).toEqual(snapshot)
    const after = await filterProg()
    expect(after.name).toContain('vx_from_ep')
    expect(after.id).not.toBe(before.id)
    const [code, tr] = await Promise.all([flood.exited, transfer])
    const out = flood.stdout()
    const m = out.match(/(\d+) packets transmitted, (\d+) received/)
    expect(m).not.toBeNull()
    const lost = Number(m![1]) - Number(m![2])
    console.log(
      `[live restore] restart took ${restartMs.toFixed(0)} ms; ping flood lost ${lost} of ${m![1]}; TCP ${tr.bytesReceived} bytes in ${tr.seconds.toFixed(2)} s, ok=${tr.ok}`,
    )
    expect(code).toBe(0)
    expect(lost).toBeLessThanOrEqual(5)
    expect(tr.ok).toBe(true)
    await pingOk(ns('c1'), X1.ip)
  }, 120_000)
})
