// The prober's logic without a network (root-free): a fake socket stands for the wire and the
// peers' BPF (it answers what a peer whose datapath is up and whose path carries the size
// would answer), a fake clock for time. Covers the judgement (up / down / unknown, and what the
// reconciler is told with and without a node record), seeding, path MTU search, the desired
// state's use of it, and the wire format. The real thing: test/probe/agent-down.test.ts.
import { describe, expect, test } from 'bun:test'
import { clusterView, keys } from '../../src/cluster/index.ts'
import { desiredState, type PeerLiveness } from '../../src/reconcile/index.ts'
import {
  Prober,
  probeTargets,
  seedsFromDatapath,
  type ProbeSocket,
  type Received,
} from '../../src/probe/index.ts'
import {
  LADDER,
  mtuAnswered,
  mtuRefused,
  newPathMtu,
  nextMtuProbes,
  pathMtu,
} from '../../src/probe/path-mtu.ts'
import { IP_UDP_LEN, MIN_PROBE_IP_BYTES, parseReply, probeRequest } from '../../src/probe/wire.ts'
import { PROBE_OP_REPLY } from '../../src/datapath/bpf/abi.ts'

import { ep, id, net, nodeRec } from './records.ts'

const kernelRec = (name: string) => ({ ...nodeRec(name, '198.18.0.2'), datapath: 'kernel' })

function view(entries: Record<string, unknown>) {
  return clusterView(Object.entries(entries).map(([key, v]) => ({ key, value: JSON.stringify(v) })))
}

/** h1 (me) and h2 share network a (vni 300); h3 serves only network b, where h1 has no endpoint. */
function cluster(o: { h2Record?: boolean; h2Kernel?: boolean } = {}) {
  return view({
    [keys.network(id('a'))]: net('a', 300),
    [keys.network(id('b'))]: net('b', 301),
    [keys.node('h1')]: nodeRec('h1', '198.18.0.1'),
    ...(o.h2Record !== false
      ? { [keys.node('h2')]: o.h2Kernel ? kernelRec('h2') : nodeRec('h2', '198.18.0.2') }
      : {}),
    [keys.node('h3')]: nodeRec('h3', '198.18.0.3'),
    [keys.endpoint(id('a'), id('1'))]: ep('1', 'a', '10.0.50.2', 'h1'),
    [keys.endpoint(id('a'), id('2'))]: ep('2', 'a', '10.0.50.3', 'h2'),
    [keys.endpoint(id('b'), id('3'))]: ep('3', 'b', '10.0.51.3', 'h3'),
  })
}

/** The wire and the peers' BPF: answers requests of peers that are up, up to their path MTU. */
class FakeWire implements ProbeSocket {
  nowMs = 1_000_000
  up = new Map<string, boolean>()
  pathMtu = new Map<string, number>()
  localMtu = 1500
  sent: { vtep: string; size: number }[] = []
  private queue: Received[] = []
  closed = false

  send(vtep: string, data: Uint8Array): 'sent' | 'too-big' {
    const size = data.length + IP_UDP_LEN
    if (size > this.localMtu) return 'too-big'
    this.sent.push({ vtep, size })
    if (!this.up.get(vtep) || size > (this.pathMtu.get(vtep) ?? 1500)) return 'sent'
    const reply = data.slice()
    reply[8 + 4] = PROBE_OP_REPLY // what bpf/lib/probe.h does (op is at offset 4 of struct vx_probe)
    this.queue.push({ from: vtep, data: reply, rxNs: this.nowNs() + 200_000n })
    return 'sent'
  }
  drain(): Received[] {
    return this.queue.splice(0)
  }
  nowNs(): bigint {
    return BigInt(this.nowMs) * 1_000_000n
  }
  close(): void {
    this.closed = true
  }
}

function rig(v = cluster()) {
  const wire = new FakeWire()
  let changes = 0
  let current = v
  const prober = new Prober({
    me: 'h1',
    view: () => current,
    socket: wire,
    onChange: () => changes++,
  })
  /** One round 500 ms later, its replies read. */
  const round = () => {
    wire.nowMs += 500
    prober.tick()
    prober.drain()
  }
  return { wire, prober, round, changes: () => changes, setView: (nv: typeof v) => (current = nv) }
}

describe('probe targets', () => {
  test('nodes with endpoints in networks this host serves, at their VTEP, lowest shared VNI, largest MTU', () => {
    expect(probeTargets(cluster(), 'h1', new Map())).toEqual([
      { node: 'h2', vtep: '198.18.0.2', vni: 300, vnis: [300], mtuTarget: 1500 },
    ])
  })

  test('every VNI both serve, once each and ascending, whatever order the endpoints come in', () => {
    // h1 and h2 share networks c (vni 310), a (300) and d (305), with two h2 endpoints in c
    const v = view({
      [keys.network(id('c'))]: net('c', 310, 1500),
      [keys.network(id('a'))]: net('a', 300),
      [keys.network(id('d'))]: net('d', 305),
      [keys.node('h1')]: nodeRec('h1', '198.18.0.1'),
      [keys.node('h2')]: nodeRec('h2', '198.18.0.2'),
      [keys.endpoint(id('c'), id('1'))]: ep('1', 'c', '10.0.60.2', 'h1'),
      [keys.endpoint(id('a'), id('2'))]: ep('2', 'a', '10.0.50.2', 'h1'),
      [keys.endpoint(id('d'), id('3'))]: ep('3', 'd', '10.0.55.2', 'h1'),
      [keys.endpoint(id('c'), id('4'))]: ep('4', 'c', '10.0.60.3', 'h2'),
      [keys.endpoint(id('d'), id('5'))]: ep('5', 'd', '10.0.55.3', 'h2'),
      [keys.endpoint(id('c'), id('6'))]: ep('6', 'c', '10.0.60.4', 'h2'),
      [keys.endpoint(id('a'), id('7'))]: ep('7', 'a', '10.0.50.3', 'h2'),
    })
    expect(probeTargets(v, 'h1', new Map())).toEqual([
      { node: 'h2', vtep: '198.18.0.2', vni: 300, vnis: [300, 305, 310], mtuTarget: 1550 },
    ])
  })

  test('a node whose record is gone is probed at its remembered VTEP, else not at all', () => {
    const v = cluster({ h2Record: false })
    expect(probeTargets(v, 'h1', new Map())).toEqual([])
    expect(probeTargets(v, 'h1', new Map([['h2', '198.18.0.2']]))).toEqual([
      { node: 'h2', vtep: '198.18.0.2', vni: 300, vnis: [300], mtuTarget: 1500 },
    ])
  })
})

describe('the prober', () => {
  test('a peer that answers is up: RTT from the receive timestamps, no loss, full path MTU', () => {
    const r = rig()
    r.wire.up.set('198.18.0.2', true)
    r.round()
    const [rep] = r.prober.reports()
    expect(rep).toMatchObject({
      node: 'h2',
      vtep: '198.18.0.2',
      vni: 300,
      state: 'up',
      loss: 0,
      pathMtu: 1500,
      mtuTarget: 1500,
    })
    expect(rep!.rttMs).toBeCloseTo(0.2, 5)
    expect(r.changes()).toBe(1)
    expect(r.wire.sent.map((s) => s.size)).toEqual([MIN_PROBE_IP_BYTES, 1500])
  })

  test('silent past downAfterMs: down, and its endpoints are no longer sent to, lease or not', () => {
    const r = rig()
    r.wire.up.set('198.18.0.2', true)
    r.round()
    r.wire.up.set('198.18.0.2', false)
    for (let i = 0; i < 6; i++) r.round() // 3000 ms without an answer
    expect(r.prober.reports()[0]!.state).toBe('up')
    r.round()
    expect(r.prober.reports()[0]!.state).toBe('down')
    expect(r.prober.reports()[0]!.loss).toBeGreaterThan(0.5)
    expect(r.changes()).toBe(2)
    expect(r.prober.judge('h2', nodeRec('h2', '198.18.0.2') as any)).toEqual({
      vtep: '198.18.0.2',
      forward: false,
    })
    expect(r.prober.judge('h2', undefined)).toEqual({ vtep: '198.18.0.2', forward: false })
    // while silent it gets only the small probe, no full-size ones
    const before = r.wire.sent.length
    r.round()
    expect(r.wire.sent.slice(before).map((x) => x.size)).toEqual([MIN_PROBE_IP_BYTES])
    // it answers again: up at once
    r.wire.up.set('198.18.0.2', true)
    r.round()
    expect(r.prober.judge('h2', undefined)).toEqual({ vtep: '198.18.0.2', forward: true })
  })

  test('this agent stalled for seconds (no rounds): its peers are not called down for its own silence', () => {
    const r = rig()
    r.wire.up.set('198.18.0.2', true)
    r.round()
    r.wire.nowMs += 10_000 // the event loop was blocked: nothing sent, nothing read
    r.prober.tick()
    expect(r.prober.reports()[0]!.state).toBe('up')
    expect(r.changes()).toBe(1)
  })

  test('its lease gone but its datapath answering: still sent to, at the remembered VTEP', () => {
    const r = rig()
    r.wire.up.set('198.18.0.2', true)
    r.round()
    r.setView(cluster({ h2Record: false }))
    for (let i = 0; i < 20; i++) r.round()
    expect(r.prober.reports()[0]).toMatchObject({ node: 'h2', state: 'up' })
    expect(r.prober.judge('h2', undefined)).toEqual({ vtep: '198.18.0.2', forward: true })
  })

  test('a peer that never answered (kernel datapath, or not admitting us yet): the lease decides', () => {
    const r = rig()
    for (let i = 0; i < 10; i++) r.round()
    expect(r.prober.reports()[0]!.state).toBe('unknown')
    expect(r.prober.judge('h2', nodeRec('h2', '198.18.0.2') as any)).toEqual({
      vtep: '198.18.0.2',
      forward: true,
    })
    expect(r.prober.judge('h2', undefined)).toEqual({ vtep: '198.18.0.2', forward: false })
    expect(r.prober.judge('h9', undefined)).toBeUndefined()
  })

  test('a kernel-datapath peer (its record says so): the lease alone, neither member nor sent to once it is gone', () => {
    const r = rig(cluster({ h2Kernel: true }))
    for (let i = 0; i < 10; i++) r.round()
    expect(r.wire.sent).toEqual([]) // it cannot answer: nothing is sent its way
    expect(r.prober.judge('h2', kernelRec('h2') as any)).toEqual({
      vtep: '198.18.0.2',
      forward: true,
    })
    // a member on a kernel-datapath host is a flood target: keeping it kept traffic flowing there
    r.setView(cluster({ h2Record: false }))
    r.round()
    expect(r.prober.judge('h2', undefined)).toBeUndefined()
  })

  test('seeded at start, silent, then its kernel-datapath record is back: its lease holds, not its silence', () => {
    const r = rig(cluster({ h2Record: false }))
    r.prober.seed('h2', '198.18.0.2')
    for (let i = 0; i < 8; i++) r.round()
    expect(r.prober.reports()[0]!.state).toBe('down')
    r.setView(cluster({ h2Kernel: true }))
    r.round()
    expect(r.prober.reports()[0]!.state).toBe('unknown') // no longer probed: nothing known
    expect(r.prober.judge('h2', kernelRec('h2') as any)).toEqual({
      vtep: '198.18.0.2',
      forward: true,
    })
  })

  test('seeded from the datapath at start: up until its silence says otherwise', () => {
    const v = cluster({ h2Record: false })
    const seeds = seedsFromDatapath(
      v,
      [
        { vni: 300, ip: '10.0.50.3', mac: 'x', vtep: '198.18.0.2' },
        { vni: 999, ip: '1.2.3.4', mac: 'x', vtep: '9.9.9.9' },
      ],
      'h1',
    )
    expect([...seeds]).toEqual([['h2', '198.18.0.2']])
    const r = rig(v)
    r.prober.seed('h2', '198.18.0.2')
    expect(r.prober.judge('h2', undefined)).toEqual({ vtep: '198.18.0.2', forward: true })
    for (let i = 0; i < 7; i++) r.round()
    expect(r.prober.judge('h2', undefined)).toEqual({ vtep: '198.18.0.2', forward: false })
  })

  test('a path that carries 1400 bytes: found in a few ladders (each known after the probe timeout)', () => {
    const r = rig()
    r.wire.up.set('198.18.0.2', true)
    r.wire.pathMtu.set('198.18.0.2', 1400)
    let rounds = 0
    while (r.prober.reports()[0]?.pathMtu === undefined && rounds < 40) (r.round(), rounds++)
    expect(r.prober.reports()[0]).toMatchObject({
      state: 'up',
      pathMtu: 1400,
      mtuTarget: 1500,
      loss: 0,
    })
    expect(rounds).toBeLessThanOrEqual(16) // 8 s at 500 ms
    r.wire.pathMtu.set('198.18.0.2', 1500) // healed: seen once the pending full-size probe timed out
    for (let i = 0; i < 4; i++) r.round()
    expect(r.prober.reports()[0]!.pathMtu).toBe(1500)
  })

  test('stop closes the socket', () => {
    const r = rig()
    r.prober.stop()
    expect(r.wire.closed).toBe(true)
  })
})

describe('path MTU search (pure)', () => {
  test('ladder over the range, answers and refusals narrow it, one chance loss of a carried size is forgiven', () => {
    const s = newPathMtu(60)
    expect(nextMtuProbes(s, 1500)).toEqual([1500])
    mtuRefused(s, 1500)
    const ladder = nextMtuProbes(s, 1500)
    expect(ladder.length).toBe(LADDER)
    expect(Math.min(...ladder)).toBeGreaterThan(60)
    expect(Math.max(...ladder)).toBeLessThan(1500)
    mtuAnswered(s, 1399)
    mtuRefused(s, 1401)
    mtuAnswered(s, 1400)
    expect(pathMtu(s, 1500)).toBe(1400)
    expect(nextMtuProbes(s, 1500)).toEqual([1500, 1400])
    mtuRefused(s, 1400) // once: chance
    expect(pathMtu(s, 1500)).toBe(1400)
    mtuRefused(s, 1400) // twice: the path shrank, search again
    expect(pathMtu(s, 1500)).toBeUndefined()
  })
})

describe('desired state with peer liveness', () => {
  const v = cluster({ h2Record: false })
  const peers = (j: ReturnType<PeerLiveness['judge']>): PeerLiveness => ({
    judge: () => j,
    version: () => 1,
  })

  test('forward: programmed and a member; not forward: a member only; unknown VTEP: neither', () => {
    const fwd = desiredState(v, 'h1', peers({ vtep: '198.18.0.2', forward: true }))
    expect([...fwd.remote.values()]).toEqual([
      { vni: 300, ip: '10.0.50.3', mac: '02:42:0a:00:01:02', vtep: '198.18.0.2' },
    ])
    expect(fwd.members.get(300)).toEqual(['198.18.0.2'])
    const held = desiredState(v, 'h1', peers({ vtep: '198.18.0.2', forward: false }))
    expect(held.remote.size).toBe(0)
    expect(held.members.get(300)).toEqual(['198.18.0.2'])
    const gone = desiredState(v, 'h1', peers(undefined))
    expect(gone.remote.size).toBe(0)
    expect(gone.members.get(300)).toEqual([])
    expect(desiredState(v, 'h1').remote.size).toBe(0) // without probes: the lease alone
  })

  test('where members only say whom to flood (kernel datapath): not forward means no member either', () => {
    const o = { datapath: 'kernel' as const }
    const fwd = desiredState(v, 'h1', peers({ vtep: '198.18.0.2', forward: true }), o)
    expect(fwd.members.get(300)).toEqual(['198.18.0.2'])
    const held = desiredState(v, 'h1', peers({ vtep: '198.18.0.2', forward: false }), o)
    expect(held.remote.size).toBe(0)
    expect(held.members.get(300)).toEqual([])
  })
})

describe('probe wire format', () => {
  test('a request padded to the size under test; only replies of ours parse', () => {
    const req = probeRequest({ vni: 300, id: 7, seq: 9, sentNs: 5n }, 1500)
    expect(req.length + IP_UDP_LEN).toBe(1500)
    expect(parseReply(req)).toBeUndefined() // a request, not a reply
    const reply = req.slice()
    reply[12] = PROBE_OP_REPLY
    expect(parseReply(reply)).toEqual({ vni: 300, id: 7, seq: 9, sentNs: 5n, ipBytes: 1500 })
    expect(parseReply(new Uint8Array(10))).toBeUndefined()
  })
})
