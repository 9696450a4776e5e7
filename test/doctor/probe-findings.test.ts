// Doctor's probe findings as pure logic (root-free): which reading of a peer's probe report
// gives which line, and which readings give none (a kernel-datapath peer never answers probes
// and is not judged by them; a network that fits the path has no black hole). The real thing,
// each case broken on purpose with real agents: test/doctor/doctor-probes.test.ts.
import { describe, expect, test } from 'bun:test'
import type { NetworkRecord, NodeRecord } from '../../src/cluster/index.ts'
import { agentDownFinding, probeFindings, type PeerOnPath } from '../../src/doctor/index.ts'
import type { PeerReport } from '../../src/probe/index.ts'

const me = { node: 'h1', vtep: '198.18.0.1' }
const rec = (datapath: 'bpf' | 'kernel' = 'bpf'): NodeRecord => ({
  name: 'h2',
  advertise: '198.18.0.2',
  datapath,
  version: '0',
  started: 'x',
})
const netRec = (name: string, vni: number, mtu = 1450) =>
  ({ name, vni, mtu, id: name, subnet: '10.0.0.0/24' }) as unknown as NetworkRecord
const report = (o: Partial<PeerReport> = {}): PeerReport => ({
  node: 'h2',
  vtep: '198.18.0.2',
  vni: 300,
  state: 'up',
  loss: 0,
  sent: 10,
  answered: 10,
  mtuTarget: 1500,
  pathMtu: 1500,
  lostInRow: 0,
  vnisNotServed: [],
  lastAnswerMs: 100,
  ...o,
})
/** null: no record (its lease is gone). */
const peer = (r: PeerReport | undefined, record: NodeRecord | null = rec()): PeerOnPath => ({
  node: 'h2',
  record: record ?? undefined,
  endpoints: 2,
  report: r,
})
const checks = (p: PeerOnPath, nets = [netRec('blue', 300)]) =>
  probeFindings(p, me, nets).map((f) => f.check)

describe('probe findings', () => {
  test('a healthy, answering peer: nothing', () => {
    expect(checks(peer(report()))).toEqual([])
    expect(checks(peer(undefined))).toEqual([]) // not probed: nothing to read
  })

  test('agent down: only without a record and with the datapath answering', () => {
    expect(agentDownFinding(peer(report(), rec()), 0)).toBeUndefined()
    expect(agentDownFinding(peer(report({ state: 'down' }), null), 0)).toBeUndefined()
    const f = agentDownFinding(peer(report({ recordGoneAt: 1000, lostInRow: 1 }), null), 6000)
    expect(f?.check).toBe('peer-agent-down')
    expect(f?.cause).toBe(
      'agent down: no live record in the store since 00:00:01 (5 s), but its datapath at 198.18.0.2 answers probes ' +
        '(last answer 100 ms ago, 1 probe unanswered since): its 2 endpoints on the path are kept and still sent to',
    )
  })

  test('silent probes: filtered when ICMP echo answers, unreachable when it does not', () => {
    const down = (echo?: 'answers' | 'silent') =>
      peer(report({ state: 'down', lostInRow: 8, lastAnswerMs: 4000, ...(echo && { echo }) }))
    expect(checks(down('answers'))).toEqual(['udp-filtered'])
    expect(checks(down('silent'))).toEqual(['vtep-unreachable'])
    expect(probeFindings(down(), me, [])[0]!.cause).toContain('ICMP echo not known yet')
    // down: no MTU or VNI readings from a silent peer
    expect(checks(down('answers'), [netRec('blue', 300, 9000)])).toEqual(['udp-filtered'])
  })

  test('never answered: a BPF peer is silent (filtered from the start); a kernel peer cannot answer', () => {
    const never = { state: 'unknown' as const, lostInRow: 5, answered: 0, echo: 'answers' as const }
    const { lastAnswerMs: _, ...noAnswer } = report(never)
    expect(checks(peer(noAnswer, rec('bpf')))).toEqual(['udp-filtered'])
    expect(probeFindings(peer(noAnswer, rec('bpf')), me, [])[0]!.cause).toContain(
      'since probing began (10 probes sent, none answered)',
    )
    expect(checks(peer(noAnswer, rec('kernel')))).toEqual([])
    expect(checks(peer({ ...noAnswer, lostInRow: 2 }, rec('bpf')))).toEqual([]) // not yet
  })

  test('MTU black hole: per network that needs more than the path carries, with what to do', () => {
    const r = report({ pathMtu: 1400 })
    const f = probeFindings(peer(r), me, [netRec('blue', 300), netRec('small', 301, 1300)])
    expect(f).toEqual([
      {
        check: 'mtu-black-hole',
        cause:
          'MTU black hole at 1401 bytes on the way to 198.18.0.2: packets of up to 1400 bytes pass, larger ones are lost, ' +
          "and network blue (MTU 1450) sends up to 1500: lower the network's MTU to 1350 or raise the underlay's MTU to 1500",
      },
    ])
  })

  test('VNI unknown at the peer: only for networks on the path', () => {
    const r = report({ vnisNotServed: [301, 999] })
    expect(probeFindings(peer(r), me, [netRec('blue', 300), netRec('red', 301)])).toEqual([
      {
        check: 'vni-unknown',
        cause:
          'VNI 301 (network red) unknown at its datapath: it answers probes but says it does not serve VNI 301; ' +
          'traffic of network red to its endpoints is dropped there (unknown_vni)',
      },
    ])
  })
})
