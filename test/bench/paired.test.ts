// Targets judged on paired rounds (bench/lib/stats.ts pairRounds, bench/lib/targets.ts,
// bench/lib/report.ts) and the 64 B UDP figure's pure pieces (bench/lib/tools.ts): no root.
import { describe, expect, test } from 'bun:test'
import { pairRounds, difference } from '../../bench/lib/stats.ts'
import { evaluateTargets } from '../../bench/lib/targets.ts'
import { ratioCell, targetRow } from '../../bench/lib/report.ts'
import {
  perCpuBusy,
  udpDelivered,
  udpSendingSeconds,
  udpSentPackets,
} from '../../bench/lib/tools.ts'
import type { BenchResult, Figure, Phase } from '../../bench/lib/types.ts'
import { median } from '../../bench/lib/stats.ts'

const fig = (samples: number[], rounds = samples.map((_, i) => i + 1)): Figure => ({
  samples,
  median: median(samples),
  rounds,
})

describe('pairRounds', () => {
  test('a drifting machine: the median of per-round ratios, not the ratio of medians', () => {
    // the machine slows down in round 2 and 3 for both modes alike; bpf is ~routed each round
    const routed = fig([4.6, 4.2, 3.8])
    const bpf = fig([4.5, 4.3, 3.9])
    const q = pairRounds(bpf, routed)!
    expect(q.paired).toBe(true)
    expect(q.values.map((v) => +v.toFixed(4))).toEqual([0.9783, 1.0238, 1.0263])
    expect(q.median).toBeCloseTo(4.3 / 4.2, 10)
    expect(q.min).toBeCloseTo(4.5 / 4.6, 10)
    expect(q.max).toBeCloseTo(3.9 / 3.8, 10)
    // the ratio of medians would have said 4.3 / 4.2 here too; shuffle bpf's rounds and it differs
    const shuffled = pairRounds(fig([3.9, 4.5, 4.3]), routed)!
    expect(shuffled.median).toBeCloseTo(4.5 / 4.2, 10)
  })
  test('rounds are matched by number when a mode lost one', () => {
    const a = fig([10, 30], [1, 3])
    const b = fig([5, 7, 10], [1, 2, 3])
    expect(pairRounds(a, b)!.values).toEqual([2, 3])
  })
  test('without round numbers, by position when the counts agree, else the medians (unpaired)', () => {
    expect(pairRounds({ samples: [2, 4] }, { samples: [1, 1] })!.values).toEqual([2, 4])
    const q = pairRounds({ samples: [4.5] }, { samples: [4, 5, 6] })!
    expect(q).toEqual({ median: 0.9, min: 0.9, max: 0.9, values: [0.9], paired: false })
  })
  test('a round where B is 0 is left out; nothing left is undefined', () => {
    expect(pairRounds(fig([3, 4]), fig([0, 2]))!.values).toEqual([2])
    expect(pairRounds(fig([3]), fig([0]))).toBeUndefined()
    expect(pairRounds(undefined, fig([1]))).toBeUndefined()
  })
  test('differences pair the same way', () => {
    expect(pairRounds(fig([50, 70]), fig([60, 60]), difference)!.values).toEqual([-10, 10])
    const r = evaluateTargets(
      result({
        modes: { bpf: { available: true }, docker: { available: true } },
        remote: { docker: { latP99us: fig([90, 95, 100]) }, bpf: { latP99us: fig([50, 60, 64]) } },
      }),
    ).find((t) => t.id === 'wire.p99.bpf-docker')!
    expect(r.value).toBe(-36)
    expect(targetRow(r)).toContain(
      '| -36 <sub>(-40 to -35)</sub> | <= 0 | yes, met in 3 of 3 rounds |',
    )
  })
  test('ratio cells show the range only with more than one round', () => {
    expect(ratioCell(pairRounds(fig([2, 3, 4]), fig([2, 2, 2])))).toBe(
      '1.50x <sub>(1.00–2.00)</sub>',
    )
    expect(ratioCell(pairRounds(fig([3]), fig([2])))).toBe('1.50x')
    expect(ratioCell(undefined)).toBe('—')
  })
})

function result(wire: Partial<Phase> & { modes?: BenchResult['modes'] }): BenchResult {
  const { modes, ...phase } = wire
  return {
    meta: { config: { seconds: 10, convergeTimeoutMs: 1000 } },
    modes: modes ?? { routed: { available: true }, bpf: { available: true } },
    phases: [{ underlay: 'wire', remote: {}, counters: {}, errors: {}, ...phase }],
    controlPlane: {},
    targets: [],
  } as unknown as BenchResult
}

describe('targets on paired rounds', () => {
  const r = result({
    remote: {
      routed: { tcp1Gbps: fig([4.6, 3.8, 4.2]), tcp1Retransmits: fig([100, 100, 100]) },
      bpf: { tcp1Gbps: fig([4.4, 3.8, 4.3]), tcp1Retransmits: fig([90, 150, 110]) },
    },
    counters: {
      routed: {
        tcp1: [1, 2, 3].map(() => ({ server: { TcpExtTCPOFOQueue: 100 } })),
      },
      bpf: { tcp1: [50, 130, 110].map((n) => ({ server: { TcpExtTCPOFOQueue: n } })) },
    },
  })
  const targets = evaluateTargets(r)
  const get = (id: string) => targets.find((t) => t.id === id)!

  test('judged on the median of per-round ratios, with how many rounds met it alone', () => {
    const t = get('wire.tcp1.bpf/routed')
    // per round: 0.957, 1.0, 1.024 → median 1.0 (the ratio of medians 4.3/4.2 would be 1.024)
    expect(t.value).toBeCloseTo(1, 10)
    expect(t.met).toBe(true)
    expect(t.rounds).toEqual({ n: 3, met: 2, min: 4.4 / 4.6, max: 4.3 / 4.2, paired: true })
    expect(targetRow(t)).toContain(
      '| 1.00x <sub>(0.96x–1.02x)</sub> | >= 0.97x | yes, met in 2 of 3 rounds |',
    )
  })
  test('retransmits and out-of-order counters pair by round too; a miss says how many rounds met it', () => {
    const t = get('wire.retrans.bpf/routed')
    expect(t.value).toBeCloseTo(1.1, 10)
    expect(t.met).toBe(true)
    expect(t.rounds?.met).toBe(2)
    const ofo = get('wire.ofo.bpf/routed')
    expect(ofo.value).toBeCloseTo(1.1, 10)
    expect(ofo.rounds).toMatchObject({ n: 3, met: 2, paired: true })
    const strict = evaluateTargets(
      result({
        remote: { routed: { tcp1Gbps: fig([4, 4, 4]) }, bpf: { tcp1Gbps: fig([3.7, 3.8, 4.1]) } },
      }),
    ).find((x) => x.id === 'wire.tcp1.bpf/routed')!
    expect(strict.met).toBe(false)
    expect(targetRow(strict)).toContain('**missed**, met in 1 of 3 rounds')
    expect(strict.note).not.toBe('')
  })
  test('a mode that did not run: not evaluated, no rounds', () => {
    const t = get('wire.tcp1.bpf/kernel')
    expect(t.met).toBeNull()
    expect(t.rounds).toBeUndefined()
    expect(targetRow(t)).toContain('| — | >= 1.3x | not evaluated |')
  })
})

describe('64 B UDP: what the receiving namespace took in', () => {
  test('sending time is every interval, the -O warm-up included', () => {
    const j = {
      intervals: [
        { sum: { seconds: 1.0, omitted: true } },
        { sum: { seconds: 1.0 } },
        { sum: { seconds: 0.5 } },
      ],
      end: { sum: { seconds: 1.5 } },
    }
    expect(udpSendingSeconds(JSON.stringify(j))).toBe(2.5)
    expect(udpSentPackets(JSON.stringify(j))).toBeUndefined()
    const withPackets = {
      intervals: [
        { sum: { seconds: 1, packets: 50_000, omitted: true } },
        { sum: { seconds: 1, packets: 80_000 } },
      ],
    }
    expect(udpSentPackets(JSON.stringify(withPackets))).toBe(130_000)
    expect(
      udpSendingSeconds(
        JSON.stringify({ start: { test_start: { omit: 1 } }, end: { sum: { seconds: 3 } } }),
      ),
    ).toBe(4)
    expect(() => udpSendingSeconds('{}')).toThrow(/no interval/)
  })
  test('delivered = read by a socket + dropped at a full receive buffer', () => {
    expect(
      udpDelivered(
        { UdpInDatagrams: 10, UdpRcvbufErrors: 1 },
        { UdpInDatagrams: 370_938, UdpRcvbufErrors: 9_476 },
      ),
    ).toBe(380_403)
  })
  test('per-CPU busy share between two /proc/stat readings', () => {
    const stat = (c0: number[], c1: number[]) =>
      [
        'cpu  0 0 0 0 0 0 0 0 0 0',
        `cpu0 ${c0.join(' ')} 0 0`,
        `cpu1 ${c1.join(' ')} 0 0`,
        'intr 1',
      ].join('\n')
    // user nice system idle iowait irq softirq steal
    const a = stat([0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0])
    const b = stat([20, 0, 30, 0, 0, 0, 50, 0], [10, 0, 10, 70, 10, 0, 0, 0])
    expect(perCpuBusy(a, b)).toEqual([1, 0.2])
    expect(() => perCpuBusy('cpu  1 2 3', 'cpu  1 2 3')).toThrow(/per-CPU/)
  })
})
