// SandboxWatcher with real network namespaces (root): `ip netns del`, a name re-created for
// another namespace, and the process behind /proc/PID/ns/net exiting are each reported with
// the sandbox's endpoints, within ~1 s; a sandbox that lives on is not.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { newPrefix, requireRoot, run, waitFor } from '../harness/index.ts'
import { SandboxWatcher, type SandboxGone } from '../../src/sandbox/index.ts'

describe('SandboxWatcher (network namespaces)', () => {
  const prefix = newPrefix()
  const made = new Set<string>()
  const procs: ReturnType<typeof Bun.spawn>[] = []
  const gone: SandboxGone[] = []
  const watcher = new SandboxWatcher({ onGone: (g) => void gone.push(g) })

  const addNs = async (name: string) => {
    const r = await run(['ip', 'netns', 'add', name])
    if (r.code !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`)
    made.add(name)
  }
  const delNs = async (name: string) => {
    expect((await run(['ip', 'netns', 'del', name])).code).toBe(0)
  }
  /** ms until `endpointId` is reported gone (fails after 3 s). */
  const reported = async (endpointId: string, since: number) => {
    await waitFor(() => gone.some((g) => g.endpointIds.includes(endpointId)), { what: `${endpointId} to be reported gone`, timeoutMs: 3000, intervalMs: 10 })
    return Date.now() - since
  }

  beforeAll(() => {
    requireRoot()
    watcher.start()
  })
  afterAll(async () => {
    watcher.stop()
    for (const p of procs) p.kill()
    for (const p of procs) await p.exited
    for (const n of made) await run(['ip', 'netns', 'del', n])
  })

  test('`ip netns del` reports every endpoint of that sandbox, by name or by path, and no other', async () => {
    await addNs(`${prefix}-a`)
    await addNs(`${prefix}-b`)
    watcher.follow([
      { endpointId: 'a0', sandbox: `${prefix}-a` },
      { endpointId: 'a1', sandbox: `/run/netns/${prefix}-a` },
      { endpointId: 'b0', sandbox: `${prefix}-b` },
    ])
    const t0 = Date.now()
    await delNs(`${prefix}-a`)
    const ms = await reported('a0', t0)
    await reported('a1', t0)
    console.log(`[sandbox-watch] ip netns del -> reported after ${ms} ms`)
    expect(ms).toBeLessThan(1500)
    expect(gone.flatMap((g) => g.endpointIds).sort()).toEqual(['a0', 'a1'])
    // `ip netns del` unmounts the namespace, then unlinks its file: a look between the two sees
    // the bare file (another inode), so "replaced" is as right as "missing"
    expect(gone.every((g) => g.reason === 'missing' || g.reason === 'replaced')).toBe(true)
    expect(watcher.isGone('b0')).toBe(false)
  })

  test('a name deleted and added again names another namespace: reported', async () => {
    await addNs(`${prefix}-c`)
    watcher.follow([{ endpointId: 'b0', sandbox: `${prefix}-b` }, { endpointId: 'c0', sandbox: `${prefix}-c` }])
    const t0 = Date.now()
    await delNs(`${prefix}-c`)
    await addNs(`${prefix}-c`)
    const ms = await reported('c0', t0)
    console.log(`[sandbox-watch] ip netns del + add -> reported after ${ms} ms`)
    expect(watcher.isGone('b0')).toBe(false)
  })

  test('the process behind /proc/PID/ns/net exits: reported by the periodic check within ~1 s', async () => {
    const proc = Bun.spawn(['unshare', '--net', 'sleep', '60'], { stdout: 'ignore', stderr: 'pipe' })
    procs.push(proc)
    // wait until the process is inside its own namespace (unshare execs sleep after unsharing)
    const own = (await run(['readlink', '/proc/self/ns/net'])).stdout.trim()
    await waitFor(async () => {
      const r = await run(['readlink', `/proc/${proc.pid}/ns/net`])
      return r.code === 0 && r.stdout.trim() !== own && (await run(['cat', `/proc/${proc.pid}/comm`])).stdout.trim() === 'sleep'
    }, { what: 'unshare to enter its namespace' })
    watcher.follow([{ endpointId: 'b0', sandbox: `${prefix}-b` }, { endpointId: 'p0', sandbox: `/proc/${proc.pid}/ns/net` }])
    watcher.check()
    expect(watcher.isGone('p0')).toBe(false)
    const t0 = Date.now()
    proc.kill()
    await proc.exited
    const ms = await reported('p0', t0)
    console.log(`[sandbox-watch] process exit -> reported after ${ms} ms`)
    expect(ms).toBeLessThan(2000)
    expect(watcher.isGone('b0')).toBe(false)
  })
})
