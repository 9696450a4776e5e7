// What the prober asks beside liveness, without a network (root-free): an ICMP echo to a peer
// whose probes go unanswered (answers: the host is there, UDP 4789 is lost; silent: the VTEP is
// unreachable), one more shared VNI per liveness probe (the peer's reply says whether it serves
// it), and since when a peer's node record is gone. Fakes stand for the wire, the peer's BPF
// and the kernel's echo; the real thing: test/doctor/doctor-probes.test.ts.
import { describe, expect, test } from 'bun:test'
import { clusterView, keys } from '../../src/cluster/index.ts'
import { Prober, type EchoSocket, type ProbeSocket, type Received } from '../../src/probe/index.ts'
import { echoRequest, inetChecksum, parseEchoReply } from '../../src/probe/echo.ts'
import { ECHOES_FOR_SILENT } from '../../src/probe/peer.ts'
import {
  IP_UDP_LEN,
  MIN_PROBE_IP_BYTES,
  parseReply,
  PROBE_OP_REPLY_VNI_UNKNOWN,
  probeRequest,
} from '../../src/probe/wire.ts'
import { PROBE_OP_REPLY } from '../../src/datapath/bpf/abi.ts'

import { ep, id, net, nodeRec } from './records.ts'

/** h1 (me) and h2 share networks a (vni 300) and b (vni 301). */
function cluster(o: { h2Record?: boolean; h2Datapath?: string } = {}) {
  const entries: Record<string, unknown> = {
    [keys.network(id('a'))]: net('a', 300),
    [keys.network(id('b'))]: net('b', 301),
    [keys.node('h1')]: nodeRec('h1', '198.18.0.1'),
    ...(o.h2Record !== false
      ? { [keys.node('h2')]: { ...nodeRec('h2', '198.18.0.2'), datapath: o.h2Datapath ?? 'bpf' } }
      : {}),
    [keys.endpoint(id('a'), id('1'))]: ep('1', 'a', '10.0.50.2', 'h1'),
    [keys.endpoint(id('a'), id('2'))]: ep('2', 'a', '10.0.50.3', 'h2'),
    [keys.endpoint(id('b'), id('3'))]: ep('3', 'b', '10.0.51.2', 'h1'),
    [keys.endpoint(id('b'), id('4'))]: ep('4', 'b', '10.0.51.3', 'h2'),
  }
  return clusterView(Object.entries(entries).map(([key, v]) => ({ key, value: JSON.stringify(v) })))
}

/** The wire, h2's BPF (answers while UDP passes; says which VNIs it serves) and its kernel (echo). */
class FakeWire {
  nowMs = 1_000_000
  udp = true
  icmp = true
  served = new Set([300, 301])
  /** The VNI each liveness probe asked about. */
  asked: number[] = []
  echoes = 0
  readonly replies: Received[] = []
  readonly echoReplies: { from: string; seq: number }[] = []

  probe(vtep: string, data: Uint8Array): 'sent' {
    const ask = (data[13]! << 16) | (data[14]! << 8) | data[15]!
    if (data.length + IP_UDP_LEN === MIN_PROBE_IP_BYTES) this.asked.push(ask)
    if (!this.udp) return 'sent'
    const reply = data.slice()
    reply[12] = ask && !this.served.has(ask) ? PROBE_OP_REPLY_VNI_UNKNOWN : PROBE_OP_REPLY
    this.replies.push({ from: vtep, data: reply, rxNs: this.nowNs() + 200_000n })
    return 'sent'
  }
  echo(ip: string, seq: number): void {
    this.echoes++
    if (this.icmp) this.echoReplies.push({ from: ip, seq })
  }
  nowNs(): bigint {
    return BigInt(this.nowMs) * 1_000_000n
  }
}

function rig(v = cluster()) {
  const wire = new FakeWire()
  let current = v
  const socket: ProbeSocket = {
    send: (vtep, data) => wire.probe(vtep, data),
    drain: () => wire.replies.splice(0),
    nowNs: () => wire.nowNs(),
    close: () => {},
  }
  const echo: EchoSocket = {
    send: (ip, seq) => wire.echo(ip, seq),
    drain: () => wire.echoReplies.splice(0),
    close: () => {},
  }
  const prober = new Prober({ me: 'h1', view: () => current, socket, echo })
  /** One round 500 ms later, its replies read. */
  const round = () => {
    wire.nowMs += 500
    prober.tick()
    prober.drain()
  }
  return { wire, prober, round, setView: (nv: typeof v) => (current = nv) }
}

describe('ICMP echo while probes go unanswered', () => {
  test('answered peers get no echo; silent ones do, and the report says whether it came back', () => {
    const r = rig()
    r.round()
    expect(r.wire.echoes).toBe(0)
    expect(r.prober.reports()[0]).toMatchObject({ state: 'up', lostInRow: 0 })
    expect(r.prober.reports()[0]!.echo).toBeUndefined()
    r.wire.udp = false // UDP 4789 filtered: echo still answers
    for (let i = 0; i < 8; i++) r.round()
    expect(r.wire.echoes).toBeGreaterThan(0)
    expect(r.prober.reports()[0]).toMatchObject({ state: 'down', echo: 'answers' })
    r.wire.icmp = false // then the host goes too: the echo falls silent within a few rounds
    for (let i = 0; i < ECHOES_FOR_SILENT + 1; i++) r.round()
    expect(r.prober.reports()[0]).toMatchObject({ state: 'down', echo: 'silent' })
    r.wire.icmp = false // now nothing answers: after a few echoes, silent
    r.wire.udp = true
    r.round() // answered: the silence is over
    expect(r.prober.reports()[0]!.echo).toBeUndefined()
    r.wire.udp = false
    for (let i = 0; i < ECHOES_FOR_SILENT + 3; i++) r.round()
    expect(r.prober.reports()[0]).toMatchObject({ echo: 'silent' })
  })
})

test('a kernel-datapath peer, which cannot answer probes, is neither probed nor pinged', () => {
  const r = rig(cluster({ h2Datapath: 'kernel' }))
  r.wire.udp = false
  for (let i = 0; i < 10; i++) r.round()
  // judged by its lease alone (its vxlan device would only drop the probes as bad VXLAN)
  expect(r.prober.reports()[0]).toMatchObject({ state: 'unknown', answered: 0, sent: 0 })
  expect(r.wire.echoes).toBe(0)
})

describe('asking the peer about the VNIs both serve', () => {
  test('probes carry the lowest VNI and ask about the others; a VNI not served is reported', () => {
    const r = rig()
    r.round()
    r.round()
    expect(r.wire.asked).toEqual([301, 301]) // the probe's own VNI (300) is asked by being answered
    expect(r.prober.reports()[0]).toMatchObject({ vni: 300, vnisNotServed: [] })
    r.wire.served.delete(301)
    r.round()
    expect(r.prober.reports()[0]).toMatchObject({ state: 'up', vnisNotServed: [301] })
    r.wire.served.add(301) // put back (the drift guard there)
    r.round()
    expect(r.prober.reports()[0]!.vnisNotServed).toEqual([])
  })
})

describe('since when a node record is gone', () => {
  test('set when the view loses the record, kept while it stays gone, cleared when it is back', () => {
    const r = rig()
    r.round()
    expect(r.prober.reports()[0]!.recordGoneAt).toBeUndefined()
    r.setView(cluster({ h2Record: false }))
    const goneAt = r.wire.nowMs
    expect(r.prober.reports()[0]).toMatchObject({ state: 'up', recordGoneAt: goneAt })
    r.round()
    expect(r.prober.reports()[0]!.recordGoneAt).toBe(goneAt)
    r.setView(cluster())
    r.round()
    expect(r.prober.reports()[0]!.recordGoneAt).toBeUndefined()
  })
})

describe('wire: the asked VNI and ICMP echo', () => {
  test('a request names the asked VNI in pad0; the reply op says served or not', () => {
    const req = probeRequest({ vni: 300, id: 7, seq: 9, sentNs: 5n, askVni: 0x12345 })
    expect([...req.subarray(13, 16)]).toEqual([0x01, 0x23, 0x45])
    const served = req.slice()
    served[12] = PROBE_OP_REPLY
    expect(parseReply(served)?.asked).toEqual({ vni: 0x12345, served: true })
    const unknown = req.slice()
    unknown[12] = PROBE_OP_REPLY_VNI_UNKNOWN
    expect(parseReply(unknown)?.asked).toEqual({ vni: 0x12345, served: false })
    const old = probeRequest({ vni: 300, id: 7, seq: 9, sentNs: 5n })
    old[12] = PROBE_OP_REPLY
    expect(parseReply(old)?.asked).toBeUndefined() // nothing asked: an old prober's probe
  })

  test('an echo request checksums to zero; only echo replies with our id parse', () => {
    const req = echoRequest(0x4242, 7)
    expect(inetChecksum(req)).toBe(0)
    const ip = new Uint8Array(20 + req.length)
    ip[0] = 0x45
    ip[9] = 1
    ip.set(req, 20)
    expect(parseEchoReply(ip, 0x4242)).toBeUndefined() // a request, not a reply
    ip[20] = 0 // echo reply
    expect(parseEchoReply(ip, 0x4242)).toBe(7)
    expect(parseEchoReply(ip, 0x4243)).toBeUndefined()
  })
})
