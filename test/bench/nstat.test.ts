// nstat's text output: counters past 2^32 stay whole (the JSON of iproute2 6.1 wraps them,
// which made bench/cpu-breakdown.ts print a negative CPU-s/GB).
import { describe, expect, test } from 'bun:test'
import { counterDelta, parseNstat } from '../../bench/lib/tools.ts'

const text = (octets: number) =>
  [
    '#kernel',
    'IpInReceives                    474319             0.0',
    `IpExtOutOctets                  ${octets}         0.0`,
    'TcpOutSegs                      6268392            0.0',
    '',
  ].join('\n')

describe('parseNstat', () => {
  test('keeps 64-bit values: a delta across 2^32 is the real byte count', () => {
    const before = parseNstat(text(4_000_000_000))
    const after = parseNstat(text(9_134_051_245))
    expect(after.IpExtOutOctets).toBe(9_134_051_245)
    expect(counterDelta(before, after).IpExtOutOctets).toBe(5_134_051_245)
    expect(before.IpInReceives).toBe(474319)
  })
  test('a line it cannot read is an error, not a zero', () => {
    expect(() => parseNstat('#kernel\nIpInReceives lots 0.0\n')).toThrow(/not understood/)
  })
})
