// SandboxWatcher on plain files standing in for netns files (no root): a path that goes
// away or names another inode is reported once per sandbox, with all its endpoints.
import { afterEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SandboxWatcher, type SandboxGone } from '../../src/sandbox/index.ts'
import { netnsIdentity, netnsKey } from '../../src/sandbox/identity.ts'
import { waitFor } from '../harness/wait.ts'

let cleanups: (() => void)[] = []
afterEach(() => {
  for (const c of cleanups.reverse()) c()
  cleanups = []
})

function setup(opts: { pollMs?: number; reportAgainMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'weft-sbwatch-'))
  const gone: SandboxGone[] = []
  const w = new SandboxWatcher({
    onGone: (g) => void gone.push(g),
    pollMs: opts.pollMs ?? 60_000,
    reportAgainMs: opts.reportAgainMs,
  })
  cleanups.push(
    () => rmSync(dir, { recursive: true, force: true }),
    () => w.stop(),
  )
  const file = (name: string) => {
    const p = join(dir, name)
    writeFileSync(p, '')
    return p
  }
  return { dir, gone, w, file }
}

describe('SandboxWatcher (files)', () => {
  test('a removed netns file reports its endpoints at once (inotify, not the poll), one event per sandbox', async () => {
    const { gone, w, file } = setup()
    const a = file('a')
    const b = file('b')
    w.follow([
      { endpointId: 'e1', sandbox: a },
      { endpointId: 'e2', sandbox: a },
      { endpointId: 'e3', sandbox: b },
    ])
    w.start()
    expect(gone).toEqual([])
    rmSync(a)
    await waitFor(() => gone.length > 0, { what: 'the removal to be reported', timeoutMs: 2000 })
    expect(gone).toEqual([{ sandbox: a, path: a, endpointIds: ['e1', 'e2'], reason: 'missing' }])
    expect(w.isGone('e1')).toBe(true)
    expect(w.isGone('e3')).toBe(false)
  })

  test('a path that names another file now is reported as replaced', async () => {
    const { gone, w, file } = setup()
    const a = file('a')
    w.follow([{ endpointId: 'e1', sandbox: a }])
    w.start()
    const other = file('other')
    renameSync(other, a) // same path, another inode
    await waitFor(() => gone.length > 0, {
      what: 'the replacement to be reported',
      timeoutMs: 2000,
    })
    expect(gone).toEqual([{ sandbox: a, path: a, endpointIds: ['e1'], reason: 'replaced' }])
  })

  test('a /proc/PID/ns/net sandbox (no inotify there) is reported by the periodic check when its process exits', async () => {
    const { gone, w } = setup({ pollMs: 100 })
    const proc = Bun.spawn(['sleep', '60'])
    cleanups.push(() => proc.kill())
    w.follow([
      { endpointId: 'e1', sandbox: `/proc/${proc.pid}/ns/net` },
      { endpointId: 'e2', sandbox: String(proc.pid) },
    ])
    w.start()
    w.check()
    expect(gone).toEqual([])
    const t0 = Date.now()
    proc.kill()
    await proc.exited
    await waitFor(() => gone.length > 0, { what: 'the exit to be reported', timeoutMs: 2000 })
    expect(Date.now() - t0).toBeLessThan(1000)
    expect(gone).toEqual([
      {
        sandbox: `/proc/${proc.pid}/ns/net`,
        path: `/proc/${proc.pid}/ns/net`,
        endpointIds: ['e1', 'e2'],
        reason: 'missing',
      },
    ])
  })

  test('a sandbox already gone when first followed is reported; one no longer followed is not', async () => {
    const { dir, gone, w, file } = setup()
    const a = file('a')
    w.follow([
      { endpointId: 'e1', sandbox: join(dir, 'never') },
      { endpointId: 'e2', sandbox: a },
    ])
    w.check()
    expect(gone.map((g) => g.endpointIds)).toEqual([['e1']])
    w.follow([])
    rmSync(a)
    w.check()
    expect(gone).toHaveLength(1)
  })

  test('a gone endpoint still followed is reported again only after reportAgainMs; a failing onGone is retried then', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-sbwatch-'))
    let now = 0
    const calls: string[][] = []
    const warnings: string[] = []
    const w = new SandboxWatcher({
      onGone: async (g) => {
        calls.push(g.endpointIds)
        throw new Error('store unreachable')
      },
      reportAgainMs: 5000,
      now: () => now,
      log: { warn: (_o, m) => void warnings.push(m ?? '') },
    })
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    w.follow([{ endpointId: 'e1', sandbox: join(dir, 'gone') }])
    w.check()
    now = 4999
    w.check()
    expect(calls).toHaveLength(1)
    now = 5000
    w.check()
    expect(calls).toHaveLength(2)
    await waitFor(() => warnings.length === 2, { what: 'both failures to be logged' })
    expect(warnings[0]).toMatch(/failed; reported again later/)
  })

  test('a malformed sandbox reference is skipped and logged', () => {
    const warnings: string[] = []
    const w = new SandboxWatcher({
      onGone: () => {},
      log: { warn: (_o, m) => void warnings.push(m ?? '') },
    })
    w.follow([{ endpointId: 'e1', sandbox: 'relative/path' }])
    w.check()
    expect(warnings).toEqual(['not following a malformed sandbox reference'])
  })

  test('a check asked about one endpoint reports its whole sandbox gone, every endpoint in it', () => {
    const { gone, w, file } = setup()
    const a = file('a')
    const b = file('b')
    // not started: no directory events, no queued checks; only the check asked for runs
    w.follow([
      { endpointId: 'e1', sandbox: a },
      { endpointId: 'e2', sandbox: b },
      { endpointId: 'e3', sandbox: b },
    ])
    rmSync(b)
    w.check(['e2'])
    expect(gone).toEqual([{ sandbox: b, path: b, endpointIds: ['e2', 'e3'], reason: 'missing' }])
  })

  test('update() follows and forgets only what it is given; endpointsIn() says who is in a namespace', async () => {
    const { gone, w, file, dir } = setup()
    const a = file('a')
    const b = file('b')
    const key = (p: string) => netnsKey(netnsIdentity(p)!)
    w.follow([{ endpointId: 'e1', sandbox: a }])
    w.start()
    w.update(
      [
        { endpointId: 'e2', sandbox: a },
        { endpointId: 'e3', sandbox: b },
        { endpointId: 'e4', sandbox: join(dir, 'not-yet') },
      ],
      [],
    )
    expect(w.endpointsIn(key(a)).sort()).toEqual(['e1', 'e2'])
    expect(w.endpointsIn(key(b))).toEqual(['e3'])
    // a sandbox missing when first followed has no identity: reported gone by the check the
    // update queued (only the new endpoints are checked)
    await waitFor(() => gone.length > 0, {
      what: 'the missing sandbox to be reported',
      timeoutMs: 2000,
    })
    expect(gone.map((g) => g.endpointIds)).toEqual([['e4']])
    expect(w.unidentified()).toEqual(['e4'])
    w.update([{ endpointId: 'e2', sandbox: b }], ['e1', 'e4'])
    expect(w.endpointsIn(key(a))).toEqual([])
    expect(w.endpointsIn(key(b)).sort()).toEqual(['e2', 'e3'])
    expect(w.unidentified()).toEqual([])
    expect(w.identityOf('e1')).toBeUndefined()
    // what update() keeps is still watched: removing b reports both of its endpoints
    rmSync(b)
    await waitFor(() => gone.length > 1, { what: 'the removal to be reported', timeoutMs: 2000 })
    expect(gone[1]).toEqual({ sandbox: b, path: b, endpointIds: ['e2', 'e3'], reason: 'missing' })
  })
})
