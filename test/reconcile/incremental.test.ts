// Passes that look only at what changed (issue 17): with the view's change events, a pass after
// one endpoint's change derives and compares only its network's items, while a full pass (a
// resync, the slow period) still compares everything and so repairs what changed behind weft's
// back. The tracker's incremental desired state always equals a derivation from scratch.
// Pure logic against the recording fake datapath: no root, no kernel.
import { afterEach, describe, expect, test } from 'bun:test'
import { clusterView, keys, type ClusterView } from '../../src/cluster/index.ts'
import { viewApply, type ViewChange } from '../../src/cluster/view.ts'
import { desiredState, Reconciler } from '../../src/reconcile/index.ts'
import { DesiredTracker } from '../../src/reconcile/desired-tracker.ts'
import { FakeDatapath } from '../fakes/datapath.ts'
import { waitFor } from '../harness/wait.ts'

const ME = 'h1'
const hex = (n: number) => n.toString(16).padStart(10, '0').padEnd(64, 'f')
const ifn = (n: number) => `wf${hex(n).slice(0, 10)}`

/** A cluster tree whose view is updated by change events, as the mirror does it. */
class World {
  view: ClusterView = clusterView([])
  private listeners = new Set<(c: ViewChange) => void>()
  readonly changes = (fn: (c: ViewChange) => void) => {
    this.listeners.add(fn)
    return () => void this.listeners.delete(fn)
  }

  constructor() {
    for (const [i, name] of ['h1', 'h2', 'h3'].entries())
      this.put(keys.node(name), {
        name,
        advertise: `198.18.0.${i + 1}`,
        datapath: 'bpf',
        version: '0',
        started: 'x',
      })
  }

  network(n: number): this {
    return this.put(keys.network(hex(1000 + n)), {
      id: hex(1000 + n),
      name: `net-${n}`,
      driver: 'overlay',
      scope: 'global',
      vni: 300 + n,
      subnet: `10.${n}.0.0/24`,
      gateway: `10.${n}.0.1`,
      mtu: 1450,
      labels: {},
      options: {},
      created: 'x',
    })
  }

  /** Endpoint `e` (host byte `e % 250 + 2`) of network `n` on `node`. */
  endpoint(e: number, n: number, node: string): this {
    const ip = `10.${n}.0.${(e % 250) + 2}`
    return this.put(keys.endpoint(hex(1000 + n), hex(e)), {
      id: hex(e),
      networkId: hex(1000 + n),
      name: `sb${e}`,
      ip,
      mac: `02:42:0a:${n.toString(16).padStart(2, '0')}:00:${((e % 250) + 2).toString(16).padStart(2, '0')}`,
      node,
      sandbox: `sb${e}`,
      ifname: 'eth0',
      external: false,
      created: 'x',
    })
  }

  removeEndpoint(e: number, n: number): this {
    return this.apply([], [keys.endpoint(hex(1000 + n), hex(e))])
  }

  removeNetwork(n: number): this {
    return this.apply([], [keys.network(hex(1000 + n))])
  }

  put(key: string, v: unknown): this {
    return this.apply([{ key, value: JSON.stringify(v) }], [])
  }

  private apply(put: { key: string; value: string }[], deleted: string[]): this {
    this.view = viewApply(this.view, put, deleted).view
    for (const fn of this.listeners) fn({ put, deleted })
    return this
  }
}

let running: Reconciler[] = []
afterEach(async () => {
  for (const r of running) await r.stop()
  running = []
})

/** 10 networks; in each 5 endpoints here, 5 on h2 and 5 on h3 (150 endpoints, 100 remote). */
function setup(resyncMs?: number) {
  const world = new World()
  for (let n = 0; n < 10; n++) {
    world.network(n)
    for (let k = 0; k < 15; k++) world.endpoint(n * 100 + k, n, ['h1', 'h2', 'h3'][k % 3]!)
  }
  const dp = new FakeDatapath()
  const r = new Reconciler({
    datapath: dp,
    node: ME,
    view: () => world.view,
    changes: world.changes,
    ...(resyncMs !== undefined && { resyncMs }),
  })
  running.push(r)
  const pass = async () => {
    dp.clearCalls()
    await r.settled()
    return dp.log()
  }
  return { world, dp, r, pass }
}

describe('incremental passes', () => {
  test('after one endpoint change a pass compares only that network’s items, and programs only it', async () => {
    const { world, dp, r, pass } = setup()
    await pass()
    expect(dp.local.size).toBe(50)
    expect(dp.remote.size).toBe(100)
    const full = { ...r.stats }
    expect(full.fullPasses).toBe(1)
    // the first pass compared every item: 10 networks, 50 local, 100 remote, 10 members
    expect(full.itemsCompared).toBeGreaterThanOrEqual(10 + 50 + 100 + 10)

    world.endpoint(399, 3, 'h2') // one new remote endpoint in network 3
    const log = await pass()
    expect(log).toEqual(['upsertRemoteEndpoint 303/10.3.0.151']) // h2 is a member already
    expect(r.stats.fullPasses).toBe(full.fullPasses)
    // network 3's items only: its network, 5 local (twice: detach and attach checks), 11 remote
    // (twice: remove and upsert checks) and its members, and the network once more (removal check)
    expect(r.stats.itemsCompared - full.itemsCompared).toBe(1 + 5 + 11 * 2 + 1 + 5 + 1)

    const before = r.stats.itemsCompared
    world.endpoint(398, 4, ME) // a new local endpoint in network 4
    expect(await pass()).toEqual([`attachEndpoint ${ifn(398)}`])
    expect(r.stats.itemsCompared - before).toBe(1 + 6 + 10 * 2 + 1 + 6 + 1)
  })

  test('a pass with nothing changed compares nothing; a removed network is taken down alone', async () => {
    const { world, dp, r, pass } = setup()
    await pass()
    const before = r.stats.itemsCompared
    expect(await pass()).toEqual([])
    expect(r.stats.itemsCompared).toBe(before)
    world.removeNetwork(7)
    const log = await pass()
    expect(log.filter((l) => l.startsWith('detachEndpoint'))).toHaveLength(5)
    expect(log.at(-1)).toBe('removeNetwork 307')
    expect(log.every((l) => / 307|wf/.test(l))).toBe(true)
    expect(dp.networks.has(307)).toBe(false)
    expect(dp.local.size).toBe(45)
    expect(r.stats.fullPasses).toBe(1)
  })

  test('an incremental pass leaves other networks alone; a resync (a full pass) repairs drift', async () => {
    const { world, dp, r, pass } = setup()
    await pass()
    dp.remote.delete('305/10.5.0.3') // lost behind weft's back
    world.endpoint(199, 1, 'h3')
    expect(await pass()).toEqual(['upsertRemoteEndpoint 301/10.1.0.201'])
    expect(dp.remote.has('305/10.5.0.3')).toBe(false) // not looked at: network 5 did not change
    r.resync()
    expect(await pass()).toEqual(['upsertRemoteEndpoint 305/10.5.0.3'])
    expect(r.stats.fullPasses).toBe(2)
  })

  test('the slow period runs a full pass by itself, which repairs drift without any event', async () => {
    const { dp, r } = setup(40)
    r.start()
    await waitFor(() => dp.remote.size === 100, { what: 'the first pass', timeoutMs: 2000 })
    dp.remote.delete('302/10.2.0.203')
    await waitFor(() => dp.remote.has('302/10.2.0.203'), {
      what: 'the periodic full pass to put the lost entry back',
      timeoutMs: 2000,
    })
    expect(r.stats.fullPasses).toBeGreaterThanOrEqual(2)
  })

  test('a node record change (its endpoints in every network) derives everything again', async () => {
    const { world, dp, r, pass } = setup()
    await pass()
    world.put(keys.node('h2'), {
      name: 'h2',
      advertise: '198.18.0.22',
      datapath: 'bpf',
      version: '0',
      started: 'x',
    })
    const log = await pass()
    expect(log.filter((l) => l.startsWith('upsertRemoteEndpoint'))).toHaveLength(50)
    expect([...dp.remote.values()].filter((x) => x.vtep === '198.18.0.22')).toHaveLength(50)
    expect(r.stats.fullPasses).toBe(2)
  })

  test('a failed item is retried by the first pass after its backoff, even one for another network', async () => {
    let clock = 1_000_000
    const world = new World()
    world.network(0).network(1).endpoint(1, 0, ME).endpoint(2, 0, 'h2').endpoint(3, 1, ME)
    const dp = new FakeDatapath().failOn('upsertRemoteEndpoint', '300/10.0.0.4', 'map full', 1)
    const r = new Reconciler({
      datapath: dp,
      node: ME,
      view: () => world.view,
      changes: world.changes,
      retryBaseMs: 1000,
      now: () => clock,
    })
    running.push(r)
    await r.settled()
    expect(r.failures()).toHaveLength(1)
    clock += 1500
    world.endpoint(4, 1, 'h3') // a change of network 1 only
    dp.clearCalls()
    await r.settled()
    expect(dp.log()).toContain('upsertRemoteEndpoint 300/10.0.0.4')
    expect(r.failures()).toEqual([])
  })
})

describe('DesiredTracker', () => {
  /** A small deterministic PRNG (mulberry32): the same sequence every run. */
  const rng = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
  const plain = <K, V>(m: Map<K, { spec: V }>) => new Map([...m].map(([k, v]) => [k, v.spec]))

  test('after any sequence of changes, the incremental desired state equals one derived from scratch', () => {
    const world = new World()
    const tracker = new DesiredTracker(ME)
    world.changes((c) => tracker.noteChange(c, world.view))
    const rand = rng(17)
    let incremental = 0
    for (let step = 0; step < 400; step++) {
      const x = rand()
      const n = Math.floor(rand() * 6)
      const e = n * 100 + Math.floor(rand() * 12)
      if (x < 0.08) world.network(n)
      else if (x < 0.12) world.removeNetwork(n)
      else if (x < 0.65) world.endpoint(e, n, ['h1', 'h2', 'h3', 'h4'][Math.floor(rand() * 4)]!)
      else world.removeEndpoint(e, n)
      const r = tracker.derive(world.view, undefined)
      if (r && r.scope !== 'all') incremental++
      const want = desiredState(world.view, ME)
      const got = r?.desired
      if (!got) continue
      expect(plain(got.networks)).toEqual(want.networks)
      expect(plain(got.local)).toEqual(want.local)
      expect(plain(got.remote)).toEqual(want.remote)
      expect(got.members).toEqual(want.members)
      expect(got.subnets).toEqual(want.subnets)
    }
    expect(incremental).toBeGreaterThan(300)
    expect(tracker.counts.full).toBe(1)
  })
})
