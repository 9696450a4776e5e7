// The blocking-query wake-up registry: waiters kept by the prefix they read are woken by the
// commits that change a key below it, exactly as asking each one would (their matcher decides).
import { describe, expect, test } from 'bun:test'
import { Notifier, type WaitOutcome } from '../../src/kv/server/notifier.ts'
import type { CommitEvent } from '../../src/kv/server/engine.ts'

const commit = (...kvKeys: string[]): CommitEvent => ({ index: 1n, kvKeys, sessions: false })
const prefix = (p: string) => (e: CommitEvent) => e.kvKeys.some((k) => k.startsWith(p))
const exact = (key: string) => (e: CommitEvent) => e.kvKeys.includes(key)

/** Whether the promise settled by now (the notifier resolves synchronously on notify). */
async function outcome(p: Promise<WaitOutcome>): Promise<WaitOutcome | 'parked'> {
  return Promise.race([p, Promise.resolve().then(() => 'parked' as const)])
}

describe('Notifier', () => {
  test('a commit wakes the waiters whose prefix or key it changed, and no other', async () => {
    const n = new Notifier()
    const net1 = n.wait(prefix('weft/v1/endpoints/n1/'), 60_000, undefined, 'weft/v1/endpoints/n1/')
    const net2 = n.wait(prefix('weft/v1/endpoints/n2/'), 60_000, undefined, 'weft/v1/endpoints/n2/')
    const tree = n.wait(prefix(''), 60_000, undefined, '')
    const one = n.wait(exact('weft/v1/netseq'), 60_000, undefined, 'weft/v1/netseq')
    // a longer key below a single-key read is a candidate its matcher turns down
    const longer = n.wait(exact('weft/v1/nets'), 60_000, undefined, 'weft/v1/nets')
    expect(n.size).toBe(5)
    n.notify(commit('weft/v1/endpoints/n1/e1', 'weft/v1/ipam/n1/10.0.0.2'))
    expect(await outcome(net1)).toBe('woken')
    expect(await outcome(tree)).toBe('woken')
    expect(await outcome(net2)).toBe('parked')
    expect(n.size).toBe(3)
    n.notify(commit('weft/v1/netseq'))
    expect(await outcome(one)).toBe('woken')
    expect(await outcome(longer)).toBe('parked')
    expect(n.size).toBe(2)
    n.wakeAll()
    expect(await outcome(net2)).toBe('woken')
    expect(await outcome(longer)).toBe('woken')
    expect(n.size).toBe(0)
  })

  test('a waiter without an interest is asked about every commit', async () => {
    const n = new Notifier()
    const sessions = n.wait((e) => e.sessions, 60_000)
    n.notify(commit('a'))
    expect(await outcome(sessions)).toBe('parked')
    n.notify({ index: 2n, kvKeys: [], sessions: true })
    expect(await outcome(sessions)).toBe('woken')
  })

  test('a timeout or an abort leaves the registry (and a later commit wakes nothing twice)', async () => {
    const n = new Notifier()
    const ac = new AbortController()
    const aborted = n.wait(prefix('p/'), 60_000, ac.signal, 'p/')
    const timedOut = n.wait(prefix('p/'), 1, undefined, 'p/')
    expect(await timedOut).toBe('timeout')
    ac.abort()
    expect(await aborted).toBe('aborted')
    expect(n.size).toBe(0)
    n.notify(commit('p/x'))
    expect(n.size).toBe(0)
    const again = n.wait(prefix('p/'), 60_000, undefined, 'p/')
    n.notify(commit('p/x'))
    expect(await outcome(again)).toBe('woken')
  })
})
