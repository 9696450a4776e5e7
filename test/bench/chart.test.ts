// The benchmark chart renderer (bench/chart.ts) and the report's use of it: pure, no root.
import { describe, expect, test } from 'bun:test'
import { barChartSvg, escapeXml, niceStep } from '../../bench/chart.ts'
import { renderChart } from '../../bench/lib/report.ts'
import type { BenchResult } from '../../bench/lib/types.ts'

describe('bar chart SVG', () => {
  test('tick steps are 1, 2 or 5 times a power of ten', () => {
    expect(niceStep(20)).toBe(5)
    expect(niceStep(13.9)).toBe(5)
    expect(niceStep(1200)).toBe(500)
    expect(niceStep(0.07)).toBe(0.02)
    expect(niceStep(0)).toBe(1)
  })

  test('one bar per value, heights in proportion, text escaped', () => {
    const svg = barChartSvg({
      title: 'a < b & "c"',
      groups: ['wire', 'veth'],
      series: [
        { name: 'kernel', color: '#111111' },
        { name: 'bpf', color: '#222222' },
      ],
      panels: [
        {
          title: 'TCP',
          values: [
            { group: 'wire', series: 'kernel', value: 5 },
            { group: 'wire', series: 'bpf', value: 10 },
            { group: 'veth', series: 'bpf', value: 2.5 },
          ],
        },
      ],
    })
    expect(svg).toStartWith('<svg xmlns="http://www.w3.org/2000/svg"')
    expect(svg).toContain(escapeXml('a < b & "c"'))
    expect(svg).not.toContain('a < b')
    const bars = [
      ...svg.matchAll(
        /<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)" fill="(#\d{6})">/g,
      ),
    ]
    expect(bars.map((b) => b[2])).toEqual(['#111111', '#222222', '#222222'])
    const [k, b, v] = bars.map((m) => Number(m[1]))
    expect(b! / k!).toBeCloseTo(2, 1)
    expect(b! / v!).toBeCloseTo(4, 1)
  })

  test('the report chart has a bar for every (place, mode) median of the chart figures', () => {
    const set = (v: number) => ({
      tcp1Gbps: { samples: [v], median: v },
      latP99us: { samples: [v * 10], median: v * 10 },
    })
    const r = {
      meta: {
        date: '2026-01-01T00:00:00Z',
        commit: 'abc1234',
        quick: true,
        kernel: '6.1',
        config: { rounds: 1 },
      },
      phases: [
        {
          underlay: 'wire',
          remote: { routed: set(5), bpf: set(4) },
          sameHost: { bpf: set(20) },
          counters: {},
          errors: {},
        },
      ],
    } as unknown as BenchResult
    const svg = renderChart(r)
    expect(svg).toContain('weft benchmarks — 2026-01-01 @ abc1234 (quick)')
    expect(svg.match(/<title>/g)).toHaveLength(6)
    expect(svg).toContain('<title>TCP 1 stream, Gbit/s · same host · bpf: 20</title>')
  })
})
