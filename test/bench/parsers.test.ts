// Pure pieces of the benchmark suite: output parsers, statistics, the endpoint assignment.
import { describe, expect, test } from 'bun:test'
import {
  parseIperfTcp,
  parseIperfUdp,
  parseProcStat,
  parseSockperf,
} from '../../bench/lib/tools.ts'
import { median, percentile, ratio } from '../../bench/lib/stats.ts'
import { assignment } from '../../bench/lib/control-plane.ts'

describe('iperf3 -J parsers', () => {
  test('TCP: receiver throughput and sender retransmits', () => {
    const j = {
      end: {
        sum_sent: { bytes: 1e9, retransmits: 42, seconds: 2 },
        sum_received: { bytes: 2.5e9, bits_per_second: 1e10, seconds: 2 },
      },
    }
    expect(parseIperfTcp(JSON.stringify(j))).toEqual({
      gbps: 10,
      bytes: 2.5e9,
      retransmits: 42,
      seconds: 2,
    })
  })
  test('UDP: received packets per second are sent minus lost', () => {
    const j = { end: { sum: { packets: 1000, lost_packets: 100, lost_percent: 10, seconds: 2 } } }
    expect(parseIperfUdp(JSON.stringify(j))).toEqual({
      rxPps: 450,
      txPps: 500,
      lostPercent: 10,
      rxPackets: 900,
    })
  })
  test("UDP: the receiver's own byte count when iperf3 gives it (its lost count is skewed by -O)", () => {
    const j = {
      start: { test_start: { blksize: 64 } },
      end: {
        sum: { packets: 10930, lost_packets: 11184, lost_percent: 102.3, seconds: 0.743 },
        sum_received: { bytes: 276992, packets: 6630, seconds: 0.971 },
      },
    }
    const r = parseIperfUdp(JSON.stringify(j))
    expect(r.rxPackets).toBe(4328)
    expect(r.rxPps).toBeCloseTo(4328 / 0.971, 6)
    expect(r.lostPercent).toBeCloseTo(100 * (1 - 4328 / 10930), 6)
  })
  test('an iperf3 error is thrown with its message', () => {
    expect(() =>
      parseIperfTcp('{"error":"the server is busy running a test. try again later"}'),
    ).toThrow(/server is busy/)
  })
})

describe('sockperf ping-pong summary', () => {
  const out = `sockperf: ========= Printing statistics for Server No: 0
sockperf: [Valid Duration] RunTime=0.990 sec; SentMessages=16789; ReceivedMessages=16788
sockperf: ====> avg-rtt=58.801 (std-dev=20.512)
sockperf: # dropped messages = 0; # duplicated messages = 0; # out-of-order messages = 0
sockperf: Summary: Round trip is 58.801 usec
sockperf: Total 16788 observations; each percentile contains 167.88 observations
sockperf: ---> <MAX> observation =  734.126
sockperf: ---> percentile 99.999 =  734.126
sockperf: ---> percentile 99.000 =  131.005
sockperf: ---> percentile 50.000 =   54.712
sockperf: ---> <MIN> observation =   30.002`
  test('p50, p99, average and count', () => {
    expect(parseSockperf(out)).toEqual({
      p50us: 54.712,
      p99us: 131.005,
      avgUs: 58.801,
      observations: 16788,
    })
  })
})

test('/proc/stat aggregate line: busy excludes idle and iowait', () => {
  const s = parseProcStat('cpu  100 5 50 1000 20 3 7 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n')
  expect(s).toEqual({ busy: 165, total: 1185, user: 105, system: 50, softirq: 10 })
})

test('statistics: nearest-rank percentiles, medians, ratios', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1)
  expect(percentile(xs, 50)).toBe(50)
  expect(percentile(xs, 99)).toBe(99)
  expect(percentile([3], 99)).toBe(3)
  expect(median([3, 1, 2])).toBe(2)
  expect(median([4, 1, 2, 3])).toBe(2.5)
  expect(ratio(3, 0)).toBeNaN()
  expect(ratio(3, 2)).toBe(1.5)
})

test('endpoint assignment: every network gets endpoints on every host, no sandbox joins a network twice', () => {
  for (const [e, m] of [
    [1000, 100],
    [3000, 300],
    [3000, 290],
    [60, 10],
  ] as const) {
    const { pairs } = assignment(e, m, 3)
    expect(pairs.length).toBe(e)
    const seen = new Set(pairs.map((p) => `${p.sandbox}/${p.network}`))
    expect(seen.size).toBe(e)
    for (let n = 0; n < m; n++) {
      expect(new Set(pairs.filter((p) => p.network === n).map((p) => p.host)).size).toBe(3)
    }
  }
})
