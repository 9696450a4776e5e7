// Run by test/store/etcd.test.ts inside a host namespace (the only place a client reaches the
// etcd member): EtcdStore passes the shared store contract against a real etcd, and its watch
// resyncs in full after etcd compacted past the revision it would resume from.
// Not a *.test.ts: without WEFT_TEST_ETCD it has nothing to talk to, and says so.
import { describe, expect, test } from 'bun:test'
import { EtcdStore } from '../../src/store/etcd/index.ts'
import type { WatchEvent } from '../../src/store/index.ts'
import { runClusterStoreContract } from '../store/contract.ts'

const endpoints = process.env.WEFT_TEST_ETCD?.split(',').filter(Boolean) ?? []
if (endpoints.length === 0)
  throw new Error(
    'WEFT_TEST_ETCD (member client URLs) is not set: run test/store/etcd.test.ts, which starts etcd and runs this file in a namespace',
  )

runClusterStoreContract('EtcdStore on a real etcd', async () => ({
  store: new EtcdStore({ endpoints }),
  cleanup: async () => {},
}))

async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await Bun.sleep(10)
  }
}

/**
 * A TCP proxy to `target` whose connections can be cut (and new ones refused) and restored,
 * or that loses what passes one way: the requests (never reach etcd) or the answers (etcd
 * applied them, the client hears nothing).
 */
async function startCuttableProxy(target: string) {
  const t = new URL(target)
  type Pair = {
    client: import('bun').Socket<Pair>
    upstream?: import('bun').Socket<unknown>
    pending: Uint8Array[]
  }
  const pairs = new Set<Pair>()
  let cutOff = false
  let lose: 'nothing' | 'requests' | 'answers' = 'nothing'
  const server = Bun.listen<Pair>({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      async open(client) {
        if (cutOff) return void client.end()
        const pair: Pair = { client, pending: [] }
        client.data = pair
        pairs.add(pair)
        pair.upstream = await Bun.connect({
          hostname: t.hostname,
          port: Number(t.port),
          socket: {
            data: (_u, d) => void (lose === 'answers' || client.write(d)),
            close: () => void client.end(),
            error: () => void client.end(),
          },
        })
        for (const d of pair.pending) pair.upstream.write(d)
      },
      data(client, d) {
        if (lose === 'requests') return
        if (client.data.upstream) client.data.upstream.write(d)
        else client.data.pending.push(new Uint8Array(d))
      },
      close(client) {
        client.data?.upstream?.end()
        pairs.delete(client.data)
      },
    },
  })
  return {
    url: `http://127.0.0.1:${server.port}`,
    cut() {
      cutOff = true
      for (const p of pairs) (p.client.end(), p.upstream?.end())
    },
    restore() {
      cutOff = false
    },
    lose(what: 'nothing' | 'requests' | 'answers') {
      lose = what
    },
    close: () => server.stop(true),
  }
}

const post = async (path: string, body: unknown) =>
  (
    await fetch(`${endpoints[0]}${path}`, { method: 'POST', body: JSON.stringify(body) })
  ).json() as Promise<any>

describe('EtcdStore on a real etcd, beyond the contract', () => {
  test('a watch cut off resumes from its last revision; after a compaction past it, a full snapshot', async () => {
    const cut = await startCuttableProxy(endpoints[0]!)
    const s = new EtcdStore({ endpoints: [cut.url] })
    const direct = new EtcdStore({ endpoints })
    await direct.txn([{ op: 'put', key: 'extra/c/1', value: 'one' }])
    const events: WatchEvent[] = []
    const errors: string[] = []
    const w = s.watch('extra/c/', (e) => void events.push(e), {
      onError: (e) => void errors.push((e as Error).message),
    })
    const rebuilt = () => {
      const seen = new Map<string, string>()
      for (const e of events) {
        if (e.kind === 'snapshot') seen.clear()
        for (const x of e.kind === 'snapshot' ? e.entries : e.put) seen.set(x.key, x.value)
        if (e.kind === 'delta') for (const k of e.deleted) seen.delete(k)
      }
      return seen
    }
    try {
      await until(() => events.length >= 1, 'the first snapshot')
      expect(events[0]!.kind).toBe('snapshot')
      // 1. cut: a write meanwhile arrives as a delta once the stream is back (no new snapshot)
      cut.cut()
      await until(() => errors.length >= 1, 'the watch to notice the cut')
      await direct.txn([{ op: 'put', key: 'extra/c/2', value: 'two' }])
      cut.restore()
      await until(() => rebuilt().get('extra/c/2') === 'two', 'the write made while cut off')
      expect(events.filter((e) => e.kind === 'snapshot')).toHaveLength(1)
      // 2. cut, write, compact past the watch's revision: the resumed stream is refused and the prefix read again
      cut.cut()
      await until(() => errors.length >= 2, 'the watch to notice the second cut')
      const put = await direct.txn([
        { op: 'put', key: 'extra/c/3', value: 'three' },
        { op: 'delete', key: 'extra/c/1' },
      ])
      if (!put.ok) throw new Error('put failed')
      await post('/v3/kv/put', { key: Buffer.from('extra/other').toString('base64'), value: '' })
      const compactTo = (await direct.get('extra/other'))!.modifyIndex
      await post('/v3/kv/compaction', { revision: compactTo.toString(), physical: true })
      cut.restore()
      await until(
        () => events.filter((e) => e.kind === 'snapshot').length === 2,
        'a full resync after the compaction',
      )
      // the resumed stream was refused for the compaction (a snapshot, not an error of the store)
      expect(errors.some((m) => /compacted/.test(m))).toBe(false)
      expect([...rebuilt().keys()].sort()).toEqual(
        (await direct.list('extra/c/')).map((e) => e.key),
      )
      expect(rebuilt().has('extra/c/1')).toBe(false)
    } finally {
      w.stop()
      await w.done
      cut.close()
    }
  })

  test('a guarded write whose answer was lost is found out: applied, or sent again', async () => {
    const proxy = await startCuttableProxy(endpoints[0]!)
    const direct = new EtcdStore({ endpoints })
    try {
      // the proxy first: each write goes there, times out, and is settled through the member behind it
      const viaProxy = () => new EtcdStore({ endpoints: [proxy.url, ...endpoints], timeoutMs: 400 })
      proxy.lose('answers') // etcd applies it; the answer never comes back
      const applied = await viaProxy().txn([
        { op: 'put', key: 'extra/lost/a', value: 'A', ifRevision: 0n },
      ])
      const a = await direct.get('extra/lost/a')
      expect(applied).toEqual({ ok: true, written: [a!] })
      proxy.lose('requests') // etcd never hears it; the second try commits
      const resent = await viaProxy().txn([
        { op: 'put', key: 'extra/lost/a', value: 'A2', ifRevision: a!.modifyIndex },
        { op: 'put', key: 'extra/lost/b', value: 'B' },
      ])
      expect(resent.ok).toBe(true)
      expect((await direct.get('extra/lost/a'))?.value).toBe('A2')
      // a write that guards no key it writes cannot be sent twice safely: it stays unknown
      proxy.lose('answers')
      const unguarded = await viaProxy()
        .txn([{ op: 'put', key: 'extra/lost/c', value: 'C' }])
        .catch((e) => e)
      expect(unguarded.name).toBe('OutcomeUnknownError')
      expect(unguarded.message).toMatch(
        /no answer within 400 ms; the write may or may not have been applied/,
      )
    } finally {
      proxy.close()
    }
  })

  test('a store listing a dead member first goes on to the live one', async () => {
    // nothing listens on port 1 of this namespace's loopback: refused, so the next member is tried
    const s = new EtcdStore({ endpoints: ['http://127.0.0.1:1', ...endpoints] })
    await s.txn([{ op: 'put', key: 'extra/turn', value: 'x' }])
    expect((await s.get('extra/turn'))?.value).toBe('x')
  })

  test('a lease that is gone: claim says so, keepAlive reports it lost', async () => {
    const s = new EtcdStore({ endpoints })
    const id = await s.leases.grant({ name: 'extra-gone', ttlMs: 5000 })
    await s.leases.revoke(id)
    await expect(s.leases.claim('extra/gone', 'x', id)).rejects.toThrow(/lease .* is gone/)
    let lost = false
    const ka = s.leases.keepAlive(id, 600, { onLost: () => (lost = true) })
    await ka.done
    expect(lost).toBe(true)
  })
})
