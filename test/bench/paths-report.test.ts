// The "way out and names" part of the benchmark report (bench/lib/report.ts) and which modes
// have which path (bench/lib/paths.ts): pure, no root.
import { describe, expect, test } from 'bun:test'
import { pathNote, pathSupport } from '../../bench/lib/paths.ts'
import { pathsSection } from '../../bench/lib/report.ts'
import type { Figure, Phase } from '../../bench/lib/types.ts'

const f = (...samples: number[]): Figure => ({
  samples,
  median: [...samples].sort((a, b) => a - b)[samples.length >> 1]!,
})

const phase = (withNames: boolean): Phase => ({
  underlay: 'wire',
  remote: {},
  counters: {},
  errors: {},
  paths: {
    nat: {
      routed: { tcp1Gbps: f(4, 5, 6), latP99us: f(100) },
      bpf: { tcp1Gbps: f(4.5), latP99us: f(80) },
    },
    published: { routed: { tcp1Gbps: f(5) }, bpf: { tcp1Gbps: f(2.5) } },
    names: withNames
      ? {
          routed: { namesQps: f(20000) },
          kernel: { namesQps: f(10000) },
          bpf: { namesQps: f(12000) },
        }
      : undefined,
    notes: { kernel: pathNote('kernel')! },
  },
})

const row = (md: string, path: string, figure: string) =>
  md
    .split('\n')
    .find((l) => l.includes(path) && l.includes(`| ${figure} |`))
    ?.split('|')
    .map((c) => c.trim())
    .filter(Boolean)

describe('way out and names report', () => {
  test('one row per measured figure, cells in mode order, ratios against routing', () => {
    const md = pathsSection(phase(true)).join('\n')
    expect(md).toContain('## Way out and names, wire underlay')
    expect(md).toContain('| path | figure | routed | kernel | bpf | kernel/routed | bpf/routed |')
    expect(row(md, 'way out (NAT)', 'TCP 1 stream (Gbit/s)')).toEqual([
      'way out (NAT): container → outside',
      'TCP 1 stream (Gbit/s)',
      '5.00 <sub>(4.0, 5.0, 6.0)</sub>',
      '—',
      '4.50',
      '—',
      '0.90x',
    ])
    expect(row(md, 'way in', 'TCP 1 stream (Gbit/s)')?.slice(-1)).toEqual(['0.50x'])
    expect(row(md, 'names', 'answers per second')?.slice(2)).toEqual([
      '20000',
      '10000',
      '12000',
      '0.50x',
      '0.60x',
    ])
    // a figure no mode has is no row; the kernel's missing way out is said, not left blank
    expect(md).not.toContain('UDP 64 B')
    expect(md).toContain('- kernel: the kernel datapath has no way out')
  })

  test('without names (a later underlay) the table says where they are; without paths, nothing', () => {
    const md = pathsSection(phase(false)).join('\n')
    expect(md).toContain('measured in the first underlay phase only')
    expect(md).not.toContain('answers per second')
    expect(pathsSection({ ...phase(true), paths: undefined })).toEqual([])
  })

  test('routed and bpf have every path; kernel has names only; docker none', () => {
    expect(pathSupport('routed')).toEqual({ nat: true, published: true, names: true })
    expect(pathSupport('bpf')).toEqual({ nat: true, published: true, names: true })
    expect(pathSupport('kernel').names).toBe(true)
    expect(pathSupport('kernel').nat).toContain('no way out')
    expect(Object.values(pathSupport('docker')).every((v) => v !== true)).toBe(true)
    expect(pathNote('bpf')).toBeUndefined()
  })
})
