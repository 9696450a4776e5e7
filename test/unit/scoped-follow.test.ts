// Scoped following against weft's embedded KV server in this process (real HTTP, real libSQL,
// no root): a host follows nodes and networks from everyone, and a network's endpoints only
// while it has a local endpoint there. It starts with the network's full current state and
// stops receiving the network's changes once its last endpoint there is gone.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { ClusterOps, keys, type EndpointRecord } from '../../src/cluster/index.ts'
import { ClusterMirror, MirrorDb, ScopedFollower, scopedReader } from '../../src/mirror/index.ts'
import { StoreStatus, observeWrites, type WatchEvent } from '../../src/store/index.ts'
import { startKvRig, type KvRig } from '../fakes/agent-store.ts'
import { waitFor } from '../harness/wait.ts'

let rig: KvRig
const hosts: Host[] = []
beforeAll(async () => {
  rig = await startKvRig()
})
afterAll(async () => {
  for (const h of hosts) await h.close()
  await rig.cleanup()
})

interface Host {
  node: string
  mirror: ClusterMirror
  follower: ScopedFollower
  ops: ClusterOps
  /** Every watch event the store delivered to this host, with its prefix. */
  events: { prefix: string; event: WatchEvent }[]
  connect(network: string, sandbox: string): Promise<EndpointRecord>
  close(): Promise<void>
}

async function host(node: string, db?: MirrorDb, maxNetworkWatches?: number): Promise<Host> {
  const mirrorDb = db ?? (await MirrorDb.open(':memory:'))
  const mirror = new ClusterMirror(mirrorDb)
  const events: Host['events'] = []
  const follower = new ScopedFollower({
    node,
    mirror,
    maxNetworkWatches,
    status: new StoreStatus(),
    store: {
      list: (prefix) => rig.store.list(prefix),
      watch: (prefix, onEvent, h) =>
        rig.store.watch(
          prefix,
          (event) => {
            events.push({ prefix, event })
            return onEvent(event)
          },
          h,
        ),
    },
  })
  const ops = new ClusterOps(
    observeWrites(rig.store, (w) => follower.ownWrites(w)),
    1450,
    scopedReader(mirror, follower, rig.store),
  )
  await follower.start()
  const h: Host = {
    node,
    mirror,
    follower,
    ops,
    events,
    connect: (network, sandbox) => ops.connect({ network, sandbox }, node, () => new Set()),
    async close() {
      await follower.stop()
      mirrorDb.close()
    },
  }
  hosts.push(h)
  return h
}

const endpointsOf = (h: Host, networkId: string) =>
  [...h.mirror.view().endpoints.values()].filter((e) => e.networkId === networkId)

describe('scoped following', () => {
  test('a host follows nodes and networks from everyone, but no endpoints of a network it has none in', async () => {
    const b = await host('b')
    const net = await b.ops.createNetwork({ name: 'scoped-one', subnet: '10.91.0.0/24' })
    for (const s of ['b1', 'b2', 'b3']) await b.connect('scoped-one', s)
    const a = await host('a')
    await a.mirror.waitFor((v) => v.networks.has(net.id), 5000, 'the network record')
    await waitFor(() => endpointsOf(b, net.id).length === 3, {
      what: "b's endpoints at b",
      timeoutMs: 5000,
    })
    expect(endpointsOf(a, net.id)).toHaveLength(0)
    expect(a.follower.following()).toEqual([])
    expect(a.events.every((e) => e.prefix === keys.nodes() || e.prefix === keys.networks())).toBe(
      true,
    )
    expect(await a.mirror.db.list(keys.endpointsOf(net.id))).toEqual([])
  })

  test('the first local endpoint starts following the network with its full current state, peers in the same change', async () => {
    const [a, b] = [hosts.find((h) => h.node === 'a')!, hosts.find((h) => h.node === 'b')!]
    const net = (await a.ops.resolveNetwork('scoped-one')).record
    // when our endpoint first shows in the view, the network's other endpoints are there with it
    let peersWhenMineArrived = -1
    let mine = ''
    const off = a.mirror.onChange(() => {
      if (peersWhenMineArrived < 0 && mine && a.mirror.view().endpoints.has(mine))
        peersWhenMineArrived = endpointsOf(a, net.id).length - 1
    })
    const rec = await a.connect('scoped-one', 'a1')
    mine = rec.id
    await a.mirror.waitFor((v) => v.endpoints.has(rec.id), 5000, 'our endpoint')
    off()
    expect(peersWhenMineArrived).toBe(3)
    expect(a.follower.following()).toEqual([net.id])
    expect(a.follower.synced(net.id)).toBe(true)
    // its address was not taken from a guess of an empty mirror: none of b's addresses
    expect(
      endpointsOf(a, net.id)
        .filter((e) => e.id !== rec.id)
        .map((e) => e.ip),
    ).not.toContain(rec.ip)
    // later changes of the network arrive
    const b4 = await b.connect('scoped-one', 'b4')
    await a.mirror.waitFor((v) => v.endpoints.has(b4.id), 5000, "b's new endpoint")
  })

  test('a second endpoint of a followed network is in the view at once (read-your-own-writes) and its address guess holds', async () => {
    const a = hosts.find((h) => h.node === 'a')!
    const txns: boolean[] = []
    const ops = new ClusterOps(
      observeWrites(
        {
          ...rig.store,
          address: rig.store.address,
          leases: rig.store.leases,
          get: (k) => rig.store.get(k),
          list: (p) => rig.store.list(p),
          watch: rig.store.watch.bind(rig.store),
          txn: async (o) => {
            const out = await rig.store.txn(o)
            txns.push(out.ok)
            return out
          },
        },
        (w) => a.follower.ownWrites(w),
      ),
      1450,
      scopedReader(a.mirror, a.follower, rig.store),
    )
    const rec = await ops.connect({ network: 'scoped-one', sandbox: 'a2' }, 'a', () => new Set())
    // no watch round in between: the view had it when the connect's write was answered
    expect(a.mirror.view().endpoints.has(rec.id)).toBe(true)
    expect(txns).toEqual([true]) // the first guess (from the mirror, IPAM derived from endpoints) won
  })

  test('after its last local endpoint leaves, a host drops the network and receives none of its changes', async () => {
    const [a, b] = [hosts.find((h) => h.node === 'a')!, hosts.find((h) => h.node === 'b')!]
    const net = (await a.ops.resolveNetwork('scoped-one')).record
    for (const s of ['a1', 'a2']) await a.ops.disconnect('scoped-one', s, 'a')
    await waitFor(() => a.follower.following().length === 0, {
      what: 'host a to stop following',
      timeoutMs: 5000,
    })
    await a.mirror.waitFor(
      (v) => ![...v.endpoints.values()].some((e) => e.networkId === net.id),
      5000,
      'the network dropped',
    )
    expect(await a.mirror.db.list(keys.endpointsOf(net.id))).toEqual([])
    const seen = a.events.length
    // b (which follows it) sees the next changes; a gets none of them
    const b5 = await b.connect('scoped-one', 'b5')
    await b.ops.disconnect('scoped-one', 'b1', 'b')
    await b.mirror.waitFor(
      (v) => v.endpoints.has(b5.id) && endpointsOf(b, net.id).every((e) => e.name !== 'b1'),
      5000,
      "b's changes at b",
    )
    expect(a.events.slice(seen).filter((e) => e.prefix === keys.endpointsOf(net.id))).toEqual([])
    expect(endpointsOf(a, net.id)).toEqual([])
    expect(a.follower.counts).toEqual({ follows: 1, unfollows: 1 })
  })

  test('a new local endpoint later starts the follow again, with the state as it is now', async () => {
    const [a, b] = [hosts.find((h) => h.node === 'a')!, hosts.find((h) => h.node === 'b')!]
    const net = (await a.ops.resolveNetwork('scoped-one')).record
    const rec = await a.connect('scoped-one', 'a3')
    await a.mirror.waitFor((v) => v.endpoints.has(rec.id), 5000, 'our endpoint')
    const names = (h: Host) =>
      endpointsOf(h, net.id)
        .map((e) => e.name)
        .sort()
    await waitFor(() => names(b).includes('a3'), { what: 'b sees a3', timeoutMs: 5000 })
    expect(names(a)).toEqual(names(b))
    expect(names(a)).toEqual(['a3', 'b2', 'b3', 'b4', 'b5'])
  })

  test('at start, a mirror of the whole tree (an older run) is pruned to the scope, and the local networks are followed', async () => {
    const b = hosts.find((h) => h.node === 'b')!
    const other = await b.ops.createNetwork({ name: 'scoped-two', subnet: '10.92.0.0/24' })
    const mine = await b.ops.createNetwork({ name: 'scoped-three', subnet: '10.93.0.0/24' })
    await b.connect('scoped-two', 'b6')
    // the old run's mirror: the whole tree, with an endpoint of node c in scoped-three
    const c = await host('c-writer')
    const cEp = await c.ops.connect(
      { network: 'scoped-three', sandbox: 'c1' },
      'c',
      () => new Set(),
    )
    const db = await MirrorDb.open(':memory:')
    await db.applySnapshot(await rig.store.list('weft/v1/'), 1_000_000n)
    const d = await host('c', db)
    expect(d.follower.following()).toEqual([mine.id])
    expect((await d.mirror.db.list(keys.endpointsOf(other.id))).length).toBe(0)
    expect((await d.mirror.db.list('weft/v1/ipam/')).length).toBe(0)
    expect((await d.mirror.db.list('weft/v1/names/')).length).toBe(0)
    // live restore: its own endpoint is in the view before any watch answered, and stays
    expect(d.mirror.view().endpoints.has(cEp.id)).toBe(true)
    await waitFor(() => d.follower.synced(mine.id), {
      what: 'the restored network synced',
      timeoutMs: 5000,
    })
    expect(d.mirror.view().endpoints.has(cEp.id)).toBe(true)
    expect(d.mirror.view().networks.has(other.id)).toBe(true)
  })

  test("at start, this node's endpoint the mirror lacks (a crash right after the connect, a new data dir) is found in the store and its network followed", async () => {
    const b = hosts.find((h) => h.node === 'b')!
    await b.ops.createNetwork({ name: 'scoped-four', subnet: '10.94.0.0/24' })
    // written as node e, whose agent then "crashed" before its mirror saw it
    const writer = new ClusterOps(rig.store, 1450)
    const lost = await writer.connect(
      { network: 'scoped-four', sandbox: 'e1' },
      'e',
      () => new Set(),
    )
    const e = await host('e')
    expect(e.follower.ready()).toBe(false)
    await waitFor(() => e.follower.ready(), { what: 'host e ready', timeoutMs: 5000 })
    expect(e.follower.following()).toEqual([lost.networkId])
    expect(e.mirror.view().endpoints.has(lost.id)).toBe(true)
  })
})

describe('scoped following over the watch budget', () => {
  test('a host in more networks than watches follows every endpoint with one watch, and a watch per network again below half', async () => {
    const b = hosts.find((h) => h.node === 'b') ?? (await host('b'))
    const nets: { id: string; name: string }[] = []
    for (let i = 0; i < 4; i++) {
      const n = await b.ops.createNetwork({ name: `budget-${i}`, subnet: `10.95.${i}.0/24` })
      await b.connect(n.name, `budget-b${i}`)
      nets.push(n)
    }
    const w = await host('w', undefined, 2)
    const peers = (i: number) => endpointsOf(w, nets[i]!.id).filter((e) => e.node === 'b')
    await w.connect('budget-0', 'w0')
    await w.connect('budget-1', 'w1')
    await waitFor(() => w.follower.synced(nets[1]!.id), { what: 'two networks', timeoutMs: 5000 })
    expect(w.follower.followsEveryEndpoint()).toBe(false)
    expect(peers(3)).toHaveLength(0)

    // the third network is one over the budget: one watch on every endpoint instead
    const w2 = await w.connect('budget-2', 'w2')
    await waitFor(() => w.follower.followsEveryEndpoint() && w.follower.ready(), {
      what: 'the wide watch delivered',
      timeoutMs: 5000,
    })
    await w.mirror.waitFor((v) => v.endpoints.has(w2.id), 5000, 'our endpoint')
    expect(peers(2)).toHaveLength(1) // the new network's peer came with it
    expect(peers(3)).toHaveLength(1) // and every other network's endpoints (the old design's cost)
    const wideEvents = w.events.filter((e) => e.prefix === keys.endpoints()).length
    expect(wideEvents).toBeGreaterThan(0)
    // the per-network watches ended once the wide one delivered: a change arrives only through it
    const seen = w.events.length
    const late = await b.connect('budget-0', 'budget-b0-late')
    await w.mirror.waitFor((v) => v.endpoints.has(late.id), 5000, "b's new endpoint")
    expect(w.events.slice(seen).map((e) => e.prefix)).not.toContain(keys.endpointsOf(nets[0]!.id))
    expect(w.follower.following()).toEqual([nets[0]!.id, nets[1]!.id, nets[2]!.id].sort())

    // down to one network (half the budget): a watch per network again, the rest dropped
    await w.ops.disconnect('budget-1', 'w1', 'w')
    await w.ops.disconnect('budget-2', 'w2', 'w')
    await waitFor(() => !w.follower.followsEveryEndpoint(), {
      what: 'a watch per network again',
      timeoutMs: 5000,
    })
    await waitFor(() => peers(3).length === 0 && peers(2).length === 0, {
      what: 'unfollowed networks dropped from the mirror',
      timeoutMs: 5000,
    })
    expect(w.follower.following()).toEqual([nets[0]!.id])
    expect(peers(0).length).toBe(2)
    const after = w.events.length
    const other = await b.connect('budget-3', 'budget-b3-late')
    const mine = await b.connect('budget-0', 'budget-b0-later')
    await w.mirror.waitFor((v) => v.endpoints.has(mine.id), 5000, "b's change in our network")
    expect(w.mirror.view().endpoints.has(other.id)).toBe(false)
    expect(w.events.slice(after).map((e) => e.prefix)).not.toContain(keys.endpoints())
  })
})
