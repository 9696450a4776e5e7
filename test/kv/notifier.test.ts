// The blocking-query wake-up registry: waiters kept by the prefix they read are woken by the
// commits that change a key below it, exactly as asking each one would (their matcher decides).
import { describe, expect, test } from 'bun:test'
import { Notifier, type WaitOutcome, type Waiter } from '../../src/kv/server/notifier.ts'
import type { CommitEvent } from '../../src/kv/server/engine.ts'

const commit = (...kvKeys: string[]): CommitEvent => ({ index: 1n, kvKeys, sessions: false })
const prefix = (p: string) => (e: CommitEvent) => e.kvKeys.some((k) => k.startsWith(p))
const exact = (key: string) => (e: CommitEvent) => e.kvKeys.includes(key)

type Outcome = WaitOutcome | 'aborted'

/** A waiter as a promise: parked until a matching commit, `timeoutMs`, or `signal` aborts. */
function wait(
  n: Notifier,
  matches: (e: CommitEvent) => boolean,
  timeoutMs: number,
  signal?: AbortSignal,
  interest?: string,
): Promise<Outcome> {
  if (signal?.aborted) return Promise.resolve('aborted')
  return new Promise((resolve) => {
    const onAbort = () => {
      if (n.unpark(w)) resolve('aborted')
    }
    const w: Waiter = {
      matches,
      wake: (o) => {
        signal?.removeEventListener('abort', onAbort)
        resolve(o)
      },
    }
    n.park(w, timeoutMs, interest)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Whether the promise settled by now (the notifier resolves synchronously on notify). */
async function outcome(p: Promise<Outcome>): Promise<Outcome | 'parked'> {
  return Promise.race([p, Promise.resolve().then(() => 'parked' as const)])
}

describe('Notifier', () => {
  test('a commit wakes the waiters whose prefix or key it changed, and no other', async () => {
    const n = new Notifier()
    const net1 = wait(
      n,
      prefix('weft/v1/endpoints/n1/'),
      60_000,
      undefined,
      'weft/v1/endpoints/n1/',
    )
    const net2 = wait(
      n,
      prefix('weft/v1/endpoints/n2/'),
      60_000,
      undefined,
      'weft/v1/endpoints/n2/',
    )
    const tree = wait(n, prefix(''), 60_000, undefined, '')
    const one = wait(n, exact('weft/v1/netseq'), 60_000, undefined, 'weft/v1/netseq')
    // a longer key below a single-key read is a candidate its matcher turns down
    const longer = wait(n, exact('weft/v1/nets'), 60_000, undefined, 'weft/v1/nets')
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
    const sessions = wait(n, (e) => e.sessions, 60_000)
    n.notify(commit('a'))
    expect(await outcome(sessions)).toBe('parked')
    n.notify({ index: 2n, kvKeys: [], sessions: true })
    expect(await outcome(sessions)).toBe('woken')
  })

  test('a timeout or an abort leaves the registry (and a later commit wakes nothing twice)', async () => {
    const n = new Notifier()
    const ac = new AbortController()
    const aborted = wait(n, prefix('p/'), 60_000, ac.signal, 'p/')
    const timedOut = wait(n, prefix('p/'), 1, undefined, 'p/')
    expect(await timedOut).toBe('timeout')
    ac.abort()
    expect(await aborted).toBe('aborted')
    expect(n.size).toBe(0)
    n.notify(commit('p/x'))
    expect(n.size).toBe(0)
    const again = wait(n, prefix('p/'), 60_000, undefined, 'p/')
    n.notify(commit('p/x'))
    expect(await outcome(again)).toBe('woken')
  })
})

describe('Notifier deadlines (one heap, one timer)', () => {
  /** A waiter that notes how and when it was woken. */
  const waiter = (name: string, log: string[], matches = (_: CommitEvent) => true) => ({
    matches,
    wake: (o: string) => void log.push(`${name}:${o}`),
  })

  async function until(what: () => boolean, ms = 5_000): Promise<void> {
    const deadline = performance.now() + ms
    while (!what()) {
      if (performance.now() > deadline) throw new Error('timed out waiting')
      await Bun.sleep(5)
    }
  }

  test('waiters time out in deadline order, whatever order they parked in; unparked ones never wake', async () => {
    const n = new Notifier()
    const log: string[] = []
    const order = [7, 3, 9, 1, 5, 8, 2, 6, 4]
    const ws = new Map(order.map((k) => [k, waiter(`w${k}`, log)]))
    for (const k of order) n.park(ws.get(k)!, k * 15, `p${k}/`)
    // out of the heap's middle and its top
    expect(n.unpark(ws.get(5)!)).toBe(true)
    expect(n.unpark(ws.get(1)!)).toBe(true)
    expect(n.unpark(ws.get(1)!)).toBe(false)
    expect(n.size).toBe(7)
    await until(() => log.length === 7)
    expect(log).toEqual([2, 3, 4, 6, 7, 8, 9].map((k) => `w${k}:timeout`))
    expect(n.size).toBe(0)
  })

  test('a woken waiter leaves the heap (no later timeout); one that parks again from its wake gets its new deadline', async () => {
    const n = new Notifier()
    const log: string[] = []
    let again = true
    const w = {
      matches: () => true,
      wake: (o: string) => {
        log.push(o)
        if (o === 'woken' && again) {
          again = false
          n.park(w, 20, 'k')
        }
      },
    }
    n.park(w, 60_000, 'k')
    n.notify(commit('k'))
    expect(log).toEqual(['woken'])
    expect(n.size).toBe(1)
    await until(() => log.length === 2)
    expect(log).toEqual(['woken', 'timeout'])
    expect(n.size).toBe(0)
  })

  test('parking a waiter twice is refused; wakeAll empties the heap', async () => {
    const n = new Notifier()
    const log: string[] = []
    const a = waiter('a', log)
    n.park(a, 60_000)
    expect(() => n.park(a, 60_000)).toThrow(/parked already/)
    n.park(waiter('b', log), 30_000, 'x/')
    n.wakeAll()
    expect(log.sort()).toEqual(['a:woken', 'b:woken'])
    expect(n.size).toBe(0)
  })
})
