// When a test fails with real daemons running (dockerd + a container, etcd), topo.destroy()
// in afterAll still stops them all by PID and removes their files, cgroups and namespaces.
import { describe, expect, test } from 'bun:test'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { findProcesses, leaks, run } from './index.ts'

describe('teardown after a failing test with daemons', () => {
  test('leaves no dockerd, containerd, shim, container, etcd, file, cgroup or namespace', async () => {
    const fixture = join(import.meta.dir, 'fixtures', 'failing-daemons.fixture.ts')
    const r = await run([process.execPath, 'test', '--timeout', '60000', fixture])
    const out = r.stdout + r.stderr
    expect(r.code).not.toBe(0)
    expect(out).toContain('deliberately wrong')
    const prefix = out.match(/FIXTURE_PREFIX=(\w+)/)?.[1]
    expect(prefix).toBeDefined()
    expect(await leaks(prefix!)).toEqual([])
    // the harness's own directories for this run: /tmp/wd-PREFIX-* (docker), /tmp/we-PREFIX-* (etcd)
    const dirs = readdirSync('/tmp').filter(
      (d) => d.startsWith(`wd-${prefix}-`) || d.startsWith(`we-${prefix}-`),
    )
    expect(dirs).toEqual([])
    expect(findProcesses({ cmdlineHas: `/tmp/wd-${prefix}-` })).toEqual([])
    expect(findProcesses({ cmdlineHas: `/tmp/we-${prefix}-` })).toEqual([])
    expect(findProcesses({ cgroup: `weft-${prefix}-h1` })).toEqual([])
    const cgroups = readdirSync('/sys/fs/cgroup')
      .map((c) => `/sys/fs/cgroup/${c}/weft-${prefix}-h1`)
      .filter((p) => existsSync(p))
    expect(cgroups).toEqual([])
  }, 120_000)
})
