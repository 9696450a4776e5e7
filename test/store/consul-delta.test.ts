// The Consul store's watch in both modes against the real embedded server (HTTP, engine, libSQL):
// straight to weft's store it gets deltas, through a Consul stand-in (the same server with the
// `weft-since` parameter dropped on the way, as a real Consul ignores it) full snapshots, and a
// mirror fed by either holds the same tree after the same writes. A delta the mirror failed to
// apply is never the base of the next one: the next round asks again from the last one applied.
import { afterEach, describe, expect, test } from 'bun:test'
import { ConsulClient } from '../../src/kv/index.ts'
import { ClusterMirror, MirrorDb } from '../../src/mirror/index.ts'
import { ConsulStore, type StoreWatch, type WatchEvent } from '../../src/store/index.ts'
import { startTestServer, waitFor, type TestServer } from '../kv/helpers.ts'

const PREFIX = 'weft/v1/nodes/' // a prefix of the cluster tree, so the mirror's view parses it
const node = (name: string, gen: number) =>
  JSON.stringify({
    name,
    advertise: '192.0.2.1',
    datapath: 'bpf',
    version: `gen-${gen}`,
    started: '2026-12-01T00:00:00Z',
  })

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function rig(): Promise<{ srv: TestServer; consulLike: string }> {
  const srv = await startTestServer()
  cleanups.push(() => srv.cleanup())
  const proxy = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    idleTimeout: 0,
    fetch(req) {
      const u = new URL(req.url)
      u.searchParams.delete('weft-since')
      return fetch(`${srv.kv.url}${u.pathname}?${u.searchParams}`, { signal: req.signal })
    },
  })
  cleanups.push(() => proxy.stop(true))
  return { srv, consulLike: `http://127.0.0.1:${proxy.port}` }
}

interface Follower {
  mirror: ClusterMirror
  kinds: WatchEvent['kind'][]
  watch: StoreWatch
}

async function follow(
  address: string,
  onEvent?: (e: WatchEvent, n: number) => void,
): Promise<Follower> {
  const mirror = new ClusterMirror(await MirrorDb.open(':memory:'))
  const store = new ConsulStore(new ConsulClient({ address }), { watchWaitMs: 5_000 })
  const kinds: WatchEvent['kind'][] = []
  const watch = store.watch(PREFIX, async (e) => {
    onEvent?.(e, kinds.length)
    kinds.push(e.kind)
    await mirror.apply(e, PREFIX)
  })
  cleanups.push(async () => {
    watch.stop()
    await watch.done
  })
  return { mirror, kinds, watch }
}

const tree = (m: ClusterMirror) =>
  [...m.db.entries().values()]
    .filter((e) => e.key.startsWith(PREFIX))
    .map((e) => `${e.key}@${e.modifyIndex}=${e.value}`)
    .sort()

async function storeTree(client: ConsulClient): Promise<string[]> {
  const r = await client.kv.list(PREFIX)
  return r.value.map((e) => `${e.key}@${e.modifyIndex}=${new TextDecoder().decode(e.value)}`).sort()
}

describe('ConsulStore watch: deltas from weft, snapshots from Consul, one tree', () => {
  test('both mirrors converge on the store through creates, updates, deletes and a tree delete', async () => {
    const { srv, consulLike } = await rig()
    const client = new ConsulClient({ address: srv.kv.url })
    await client.kv.put(`${PREFIX}n0`, node('n0', 0))
    const viaDelta = await follow(srv.kv.url)
    const viaFull = await follow(consulLike)

    for (let i = 1; i <= 30; i++) {
      await client.kv.put(`${PREFIX}n${i}`, node(`n${i}`, 0))
      if (i % 3 === 0) await client.kv.put(`${PREFIX}n${i - 1}`, node(`n${i - 1}`, i)) // update
      if (i % 5 === 0) await client.kv.delete(`${PREFIX}n${i - 2}`) // delete
      if (i % 7 === 0) await client.kv.put(`unwatched/${i}`, 'x') // outside: no round needed
    }
    await client.kv.put(`${PREFIX}sub/a`, node('sub-a', 0))
    await client.kv.put(`${PREFIX}sub/b`, node('sub-b', 0))
    await client.kv.delete(`${PREFIX}sub/`, { recurse: true })
    await client.kv.put(`${PREFIX}n0`, node('n0', 99))

    const want = await storeTree(client)
    for (const [what, f] of [
      ['the delta watch', viaDelta],
      ['the full watch', viaFull],
    ] as const)
      await waitFor(() => JSON.stringify(tree(f.mirror)) === JSON.stringify(want), {
        what: `${what}'s mirror to hold the store's tree`,
        timeoutMs: 10_000,
      })
    expect(tree(viaDelta.mirror)).toEqual(tree(viaFull.mirror))
    // the view was kept in step the same way (it parses nodes from the tree)
    expect(viaDelta.mirror.view().nodes.size).toBeGreaterThan(20)
    expect([...viaDelta.mirror.view().nodes.keys()].sort()).toEqual(
      [...viaFull.mirror.view().nodes.keys()].sort(),
    )
    // the first answer is the whole prefix in both modes; only weft's store sent deltas after it
    expect(viaDelta.kinds[0]).toBe('snapshot')
    expect(viaDelta.kinds.slice(1)).toContain('delta')
    expect(viaDelta.kinds.slice(1).every((k) => k === 'delta')).toBe(true)
    expect(viaFull.kinds.every((k) => k === 'snapshot')).toBe(true)
  })

  test('after a delta the mirror failed to apply, the next round asks again from the last one it applied', async () => {
    const { srv } = await rig()
    const client = new ConsulClient({ address: srv.kv.url })
    await client.kv.put(`${PREFIX}a`, node('a', 0))
    let failed = false
    const f = await follow(srv.kv.url, (e) => {
      if (e.kind === 'delta' && !failed) {
        failed = true
        throw new Error('disk full (test)')
      }
    })
    await waitFor(() => f.kinds.length >= 1, { what: 'the first snapshot' })
    await client.kv.put(`${PREFIX}b`, node('b', 0)) // its delta fails to apply
    await waitFor(() => failed, { what: 'the failing delta' })
    // nothing more is written: the lost change must come again by itself
    const want = await storeTree(client)
    await waitFor(() => JSON.stringify(tree(f.mirror)) === JSON.stringify(want), {
      what: 'the mirror to hold b (lost with the failed delta) without another write',
      timeoutMs: 10_000,
    })
    // the events the mirror took (the failed delta threw before it was counted): the first
    // snapshot, then a delta since that snapshot again, never one on top of the lost delta
    expect(f.kinds.slice(0, 2)).toEqual(['snapshot', 'delta'])
  })
})
