// The control-plane simulator end to end on its smallest scenario: a real embedded store and 20
// simulated hosts (real mirror, follower, reconciler over a recording datapath) in the
// simulator's own network namespace. Every change and every connect of a burst reaches every
// host that follows its network, and the results and report go where --out says (not bench/).
// Needs root (the simulator runs in its own network namespace): without it, it fails saying so.
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { SimResult } from '../../bench/sim/report.ts'

const out = mkdtempSync(join(tmpdir(), 'weft-sim-smoke-'))
afterAll(() => rmSync(out, { recursive: true, force: true }))

describe('bench/sim', () => {
  test('smoke: single changes and a burst of 50 connects reach every affected host; bytes and CPU are counted', async () => {
    expect(process.getuid?.()).toBe(0) // the simulator runs in its own network namespace
    const proc = Bun.spawn(
      [
        process.execPath,
        join(import.meta.dir, '../../bench/sim/run.ts'),
        ...['--scenarios', 'smoke', '--designs', 'scoped', '--changes', '5', '--burst', '50'],
        ...['--workers', '2', '--max-rss-mb', '2500', '--out', out],
      ],
      { stdout: 'pipe', stderr: 'pipe' },
    )
    const killer = setTimeout(() => proc.kill('SIGTERM'), 150_000)
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()])
    clearTimeout(killer)
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' })

    const files = readdirSync(out)
    expect(files).toContain('SIM-REPORT.md')
    const json = files.find((f) => /^sim-.*\.json$/.test(f))!
    const { results } = JSON.parse(readFileSync(join(out, json), 'utf8')) as {
      results: SimResult[]
    }
    expect(results.length).toBe(1)
    const r = results[0]!
    expect(r.skipped).toBeUndefined()
    // 400 endpoints over 80 networks of 5 hosts: each of the 20 hosts follows 20 of them
    expect(r.followingPerHost).toBe(20)
    expect(r.change!.samples).toBe(5)
    expect(r.change!.meanAffectedHosts).toBe(4)
    expect(r.change!.bytesPerChange).toBeGreaterThan(0)
    expect(r.change!.storeCpuMsPerChange).toBeGreaterThanOrEqual(0)
    expect(r.burst).toMatchObject({ connects: 50, failures: 0, converged: 50 })
    expect(r.burst!.seconds).toBeGreaterThan(0)
    expect(readFileSync(join(out, 'SIM-REPORT.md'), 'utf8')).toContain('| smoke | 20 | 400 |')
  }, 180_000)
})
