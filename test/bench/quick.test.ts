// Smoke run of the benchmark suite (bench/run.ts --quick): every figure of every mode that
// works is there and positive, and the run left nothing behind (namespaces, pins, processes).
// Needs root (namespaces, BPF) and dist/weft; fails loudly without them.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { requireRoot, run } from '../harness/index.ts'
import {
  NAMES_FIGURES,
  NAT_FIGURES,
  PUBLISHED_FIGURES,
  REMOTE_FIGURES,
  SAME_HOST_FIGURES,
  type BenchResult,
} from '../../bench/lib/types.ts'

const ROOT = join(import.meta.dir, '..', '..')

describe('bench/run.ts --quick', () => {
  let out: string
  let result: BenchResult
  let exitCode: number
  let log = ''

  beforeAll(async () => {
    requireRoot()
    out = mkdtempSync(join(tmpdir(), 'weft-bench-'))
    const proc = Bun.spawn(
      [process.execPath, 'run', join(ROOT, 'bench', 'run.ts'), '--quick', '--out', out],
      {
        cwd: ROOT,
        stdout: 'pipe',
        stderr: 'pipe',
      },
    )
    const [stdout, stderr] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
    ])
    exitCode = await proc.exited
    log = stdout + stderr
    const json = readdirSync(out).find((f) => f.endsWith('.json'))
    if (!json)
      throw new Error(`no results JSON in ${out}; exit ${exitCode}; log tail:\n${log.slice(-3000)}`)
    result = JSON.parse(readFileSync(join(out, json), 'utf8'))
    // ~3 min on 2 shared vCPUs with the docker mode (two dockerd per underlay), plus ~25 s per
    // datapath for the control plane on etcd and ~1 min for the way out and names; margin for load
  }, 560_000)

  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true })
  })

  test('exits 0 and writes JSON, SVG and REPORT.md', () => {
    expect({ exitCode, tail: exitCode === 0 ? '' : log.slice(-2000) }).toEqual({
      exitCode: 0,
      tail: '',
    })
    const files = readdirSync(out)
    expect(files.some((f) => f.endsWith('.svg'))).toBe(true)
    expect(files).toContain('REPORT.md')
    const svg = readFileSync(
      join(
        out,
        files.find((f) => f.endsWith('.svg'))!,
      ),
      'utf8',
    )
    expect(svg.startsWith('<svg')).toBe(true)
    const report = readFileSync(join(out, 'REPORT.md'), 'utf8')
    expect(report).toContain('## Targets')
    expect(report).toContain('bench/run.ts --quick')
  })

  test('routed and kernel modes ran (bpf is reported either way)', () => {
    expect(result.modes.routed?.available).toBe(true)
    expect(result.modes.kernel?.available).toBe(true)
    expect(result.modes.bpf).toBeDefined()
  })

  test("docker mode ran: Docker's own overlay driver, beside weft's (needs docker.io)", () => {
    expect(result.modes.docker).toEqual({ available: true })
    for (const p of result.phases) expect(p.remote.docker?.tcp1Gbps?.median).toBeGreaterThan(0)
  })

  test('every data-plane figure of every mode that works is a positive number, in both underlays', () => {
    const missing: string[] = []
    const working = Object.entries(result.modes)
      .filter(([, s]) => s?.available)
      .map(([m]) => m as 'routed' | 'kernel' | 'bpf')
    expect(result.phases.map((p) => p.underlay)).toEqual(['wire', 'veth'])
    for (const p of result.phases) {
      for (const mode of working) {
        for (const k of REMOTE_FIGURES) {
          const v = p.remote[mode]?.[k]?.median
          if (!(typeof v === 'number' && v > 0)) missing.push(`${p.underlay} ${mode} ${k} = ${v}`)
        }
        if (p.underlay === 'wire') {
          for (const k of SAME_HOST_FIGURES) {
            const v = p.sameHost?.[mode]?.[k]?.median
            if (!(typeof v === 'number' && v > 0)) missing.push(`same-host ${mode} ${k} = ${v}`)
          }
        }
      }
      // retransmits may legitimately be 0, but must be measured
      for (const mode of working)
        if (typeof p.remote[mode]?.tcp1Retransmits?.median !== 'number')
          missing.push(`${p.underlay} ${mode} retransmits`)
    }
    expect({ missing, errors: result.phases.map((p) => p.errors) }).toEqual({
      missing: [],
      errors: result.phases.map(() => ({})),
    })
  })

  test('way out (NAT), published port and names figures against routing, in both underlays', () => {
    const missing: string[] = []
    const need = (
      where: string,
      set: Record<string, { median: number }> | undefined,
      keys: string[],
    ) => {
      for (const k of keys) {
        const v = set?.[k]?.median
        if (!(typeof v === 'number' && v > 0)) missing.push(`${where} ${k} = ${v}`)
      }
    }
    for (const p of result.phases) {
      if (!p.paths) throw new Error(`${p.underlay}: no way out and names figures`)
      for (const mode of ['routed', 'bpf'] as const) {
        need(`${p.underlay} nat ${mode}`, p.paths.nat[mode], NAT_FIGURES)
        need(`${p.underlay} published ${mode}`, p.paths.published[mode], PUBLISHED_FIGURES)
      }
      // the kernel datapath has no way out: said, not measured
      expect(p.paths.nat.kernel).toBeUndefined()
      expect(p.paths.notes.kernel ?? '').toContain('no way out')
    }
    // names never cross the underlay: the first phase only, for every mode with a resolver
    for (const mode of ['routed', 'kernel', 'bpf'] as const)
      need(`names ${mode}`, result.phases[0]!.paths!.names?.[mode], NAMES_FIGURES)
    expect(result.phases[1]!.paths!.names).toBeUndefined()
    expect(missing).toEqual([])
    const report = readFileSync(join(out, 'REPORT.md'), 'utf8')
    expect(report).toContain('## Way out and names, wire underlay')
    expect(report).toContain('bpf/routed')
  })

  test('control-plane figures for every weft datapath that works', () => {
    for (const dp of ['kernel', 'bpf'] as const) {
      if (!result.modes[dp]?.available) continue
      const cp = result.controlPlane[dp]
      if (!cp || 'error' in cp) throw new Error(`control plane ${dp}: ${cp ? cp.error : 'missing'}`)
      expect(cp.attach.samples).toBeGreaterThan(0)
      expect(cp.attach.failures).toBe(0)
      expect(cp.attach.p99ms).toBeGreaterThanOrEqual(0)
      expect(cp.converge.seconds).toBeGreaterThan(0)
      expect(cp.converge.failures).toBe(0)
      expect(cp.maxRssMb).toBeGreaterThan(0)
    }
    const kv = Object.values(result.controlPlane).find((c) => c && !('error' in c) && c.kv)
    expect(kv && !('error' in kv) ? kv.kv!.writesPerSec : 0).toBeGreaterThan(0)
    expect(kv && !('error' in kv) ? kv.kv!.deliveryP99ms : 0).toBeGreaterThan(0)
  })

  test('the same control-plane figures with the agents on a real three-member etcd', () => {
    for (const dp of ['kernel', 'bpf'] as const) {
      if (!result.modes[dp]?.available) continue
      const cp = result.controlPlane[dp]
      if (!cp || 'error' in cp) continue // the test above says why
      const etcd = cp.etcd
      if (!etcd || 'error' in etcd) throw new Error(`etcd ${dp}: ${etcd ? etcd.error : 'missing'}`)
      expect(etcd.store).toBe('etcd')
      expect(etcd.attach.samples).toBeGreaterThan(0)
      expect(etcd.attach.failures).toBe(0)
      expect(etcd.converge.seconds).toBeGreaterThan(0)
      expect(etcd.converge.failures).toBe(0)
      expect(etcd.storeMembers?.length).toBe(3)
      if (cp.kv) expect(etcd.kv?.deliveryP99ms).toBeGreaterThan(0)
    }
  })

  test('CLI start-up figures for help and admin-API commands, with the floor beside them', () => {
    const cli = result.cliStartup
    if (!cli || 'error' in cli) throw new Error(`CLI start-up: ${cli ? cli.error : 'missing'}`)
    expect(cli.commands.map((c) => c.command)).toEqual([
      'weft --help',
      'weft network',
      'weft network ls --help',
      'weft network ls',
      'weft network inspect blue',
      'weft node ls',
    ])
    for (const c of cli.commands) {
      expect({ command: c.command, exits: c.exitCodes }).toEqual({ command: c.command, exits: [0] })
      expect(c.wallMs.median).toBeGreaterThan(0)
      expect(c.peakMb.median).toBeGreaterThan(1)
    }
    expect(cli.floor?.peakMb.median).toBeGreaterThan(1)
    expect(readFileSync(join(out, 'REPORT.md'), 'utf8')).toContain('## CLI start-up')
  })

  test('targets are all listed, evaluated or explained', () => {
    const ids = result.targets.map((t) => t.id)
    for (const id of [
      'wire.tcp1.bpf/kernel',
      'wire.tcp1.bpf/routed',
      'wire.udp64.bpf/kernel',
      'wire.retrans.bpf/kernel',
      'wire.p99.bpf-kernel',
      'veth.tcp1.bpf/routed',
      'wire.tcp1.bpf/docker',
      'wire.udp64.bpf/docker',
      'wire.p99.bpf-docker',
      'veth.tcp1.bpf/docker',
      'wire.retrans.bpf/routed',
      'wire.ofo.bpf/routed',
      'veth.retrans.bpf/routed',
      'veth.ofo.bpf/routed',
      'same-host.retrans.bpf/routed',
      'cp.attach.p50',
      'cp.attach.p99',
      'cp.converge',
      'cp.rss',
      'cli.wall',
      'cli.rss',
    ]) {
      expect(ids).toContain(id)
    }
    for (const t of result.targets) if (t.met !== true) expect(t.note ?? '').not.toBe('')
  })

  test('nothing leaked: namespaces, pins, processes', async () => {
    expect(result.meta.leaks).toEqual([])
    expect(result.meta.prefixes.length).toBeGreaterThan(0)
    const ns = await run(['ip', '-j', 'netns', 'list'])
    const names: string[] = ns.stdout.trim()
      ? JSON.parse(ns.stdout).map((n: { name: string }) => n.name)
      : []
    const pins = existsSync('/sys/fs/bpf/weft') ? readdirSync('/sys/fs/bpf/weft') : []
    for (const p of result.meta.prefixes) {
      expect(names.filter((n) => n.startsWith(p))).toEqual([])
      expect(pins.filter((n) => n.startsWith(p))).toEqual([])
    }
    const alive = result.meta.pids.filter(({ pid, cmd }) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        const prog =
          cmd.split(' ').find((w) => w !== 'nsenter' && w !== 'taskset' && !/^-|^\d+$/.test(w)) ??
          '\0'
        return cmdline.includes(prog)
      } catch {
        return false
      }
    })
    expect(alive).toEqual([])
  })
})
