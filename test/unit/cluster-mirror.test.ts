// The cluster mirror: snapshots and deltas rebuild the typed view, own writes show at once,
// listeners hear every event, and waitFor resolves on the change it waits for or fails naming it.
import { afterEach, describe, expect, test } from 'bun:test'
import { ClusterMirror, MirrorDb } from '../../src/mirror/index.ts'
import { StoreUnreachableError } from '../../src/errors/index.ts'
import {
  clusterView,
  keys,
  type ClusterView,
  type EndpointRecord,
  type NetworkRecord,
} from '../../src/cluster/index.ts'

const hex = (c: string) => c.repeat(64)
const net: NetworkRecord = {
  id: hex('a'),
  name: 'blue',
  driver: 'overlay',
  scope: 'global',
  vni: 256,
  subnet: '10.0.0.0/24',
  gateway: '10.0.0.1',
  mtu: 1450,
  labels: {},
  options: {},
  created: '2026-01-01T00:00:00Z',
}
const ep = (id: string, ip: string): EndpointRecord => ({
  id: hex(id),
  networkId: net.id,
  name: `sb-${id}`,
  ip,
  mac: '02:42:0a:00:00:02',
  node: 'n1',
  sandbox: `sb-${id}`,
  ifname: 'eth0',
  external: false,
  created: '2026-01-01T00:00:00Z',
})
const entry = (key: string, value: unknown, modifyIndex: bigint) => ({
  key,
  value: typeof value === 'string' ? value : JSON.stringify(value),
  modifyIndex,
})

let open: MirrorDb[] = []
afterEach(() => {
  for (const db of open) db.close()
  open = []
})
async function mirror(opts?: ConstructorParameters<typeof ClusterMirror>[1]) {
  const db = await MirrorDb.open(':memory:')
  open.push(db)
  return new ClusterMirror(db, opts)
}

describe('ClusterMirror', () => {
  test('a snapshot becomes the typed view; a later one replaces it (removals included)', async () => {
    const m = await mirror()
    await m.apply({
      kind: 'snapshot',
      entries: [
        entry(keys.network(net.id), net, 1n),
        entry(keys.endpoint(net.id, hex('1')), ep('1', '10.0.0.2'), 2n),
      ],
      revision: 2n,
    })
    expect(m.view().networks.get(net.id)?.name).toBe('blue')
    expect(m.view().endpoints.has(hex('1'))).toBe(true)
    await m.apply({
      kind: 'snapshot',
      entries: [entry(keys.network(net.id), net, 1n)],
      revision: 3n,
    })
    expect(m.view().endpoints.size).toBe(0)
  })

  test('a delta adds and deletes keys without the rest of the tree', async () => {
    const m = await mirror()
    await m.apply({
      kind: 'snapshot',
      entries: [entry(keys.network(net.id), net, 1n)],
      revision: 1n,
    })
    await m.apply({
      kind: 'delta',
      put: [entry(keys.endpoint(net.id, hex('2')), ep('2', '10.0.0.3'), 2n)],
      deleted: [],
      revision: 2n,
    })
    expect([...m.view().endpoints.keys()]).toEqual([hex('2')])
    expect(m.view().networks.size).toBe(1)
    await m.apply({
      kind: 'delta',
      put: [],
      deleted: [keys.endpoint(net.id, hex('2'))],
      revision: 3n,
    })
    expect(m.view().endpoints.size).toBe(0)
    expect(m.view().networks.size).toBe(1)
  })

  test('own writes are in the view at once and in prefix reads; a new view object each time', async () => {
    const m = await mirror()
    await m.apply({
      kind: 'snapshot',
      entries: [entry(keys.network(net.id), net, 1n)],
      revision: 1n,
    })
    const before = m.view()
    m.ownWrites([entry(keys.endpoint(net.id, hex('3')), ep('3', '10.0.0.4'), 5n)])
    expect(m.view()).not.toBe(before)
    expect(m.view().endpoints.has(hex('3'))).toBe(true)
    expect((await m.list(keys.endpointsOf(net.id))).map((e) => e.key)).toEqual([
      keys.endpoint(net.id, hex('3')),
    ])
    // a snapshot that predates the write keeps it; one past it decides (here: gone)
    await m.apply({
      kind: 'snapshot',
      entries: [entry(keys.network(net.id), net, 1n)],
      revision: 4n,
    })
    expect(m.view().endpoints.has(hex('3'))).toBe(true)
    await m.apply({
      kind: 'snapshot',
      entries: [entry(keys.network(net.id), net, 1n)],
      revision: 6n,
    })
    expect(m.view().endpoints.has(hex('3'))).toBe(false)
  })

  test('the view kept in step with each change equals a view built from the whole tree, through snapshots, deltas, own writes and forgets', async () => {
    const m = await mirror()
    const changes: { put: string[]; deleted: string[] }[] = []
    m.onChange((c) => changes.push({ put: c.put.map((e) => e.key), deleted: c.deleted }))
    const flat = (v: ClusterView) =>
      JSON.stringify({
        networks: [...v.networks].sort(),
        endpoints: [...v.endpoints].sort(),
        nodes: [...v.nodes].sort(),
        ipam: [...v.ipam].map(([n, ips]) => [n, [...ips].sort()]).sort(),
        invalid: v.invalid.map((i) => i.key).sort(),
      })
    const same = () => expect(flat(m.view())).toBe(flat(clusterView(m.db.entries().values())))
    const net2 = { ...net, id: hex('b'), name: 'red', vni: 257, subnet: '10.0.1.0/24' }
    const epKey = (n: string, id: string) => keys.endpoint(n, hex(id))
    const epIn = (n: string, id: string, ip: string) => ({ ...ep(id, ip), networkId: n })
    let rev = 1n
    const next = () => ++rev
    // networks and a broken record from the network prefix's watch
    await m.apply(
      {
        kind: 'snapshot',
        entries: [
          entry(keys.network(net.id), net, 1n),
          entry(keys.network(net2.id), net2, 1n),
          entry(keys.network(hex('c')), '{"broken":', 1n),
        ],
        revision: next(),
      },
      keys.networks(),
    )
    same()
    expect(m.view().invalid.map((i) => i.key)).toEqual([keys.network(hex('c'))])
    // two networks' endpoints, each its own watch
    await m.apply(
      {
        kind: 'snapshot',
        entries: [
          entry(epKey(net.id, '1'), epIn(net.id, '1', '10.0.0.2'), 3n),
          entry(epKey(net.id, '2'), epIn(net.id, '2', '10.0.0.3'), 3n),
        ],
        revision: next(),
      },
      keys.endpointsOf(net.id),
    )
    await m.apply(
      {
        kind: 'snapshot',
        entries: [entry(epKey(net2.id, '3'), epIn(net2.id, '3', '10.0.1.2'), 4n)],
        revision: next(),
      },
      keys.endpointsOf(net2.id),
    )
    same()
    // an own write, then the network's snapshot that confirms it (nothing changes: no put)
    const own = entry(epKey(net.id, '4'), epIn(net.id, '4', '10.0.0.4'), 10n)
    m.ownWrites([own])
    same()
    expect(changes.at(-1)).toEqual({ put: [own.key], deleted: [] })
    rev = 10n
    await m.apply(
      {
        kind: 'snapshot',
        entries: [
          entry(epKey(net.id, '1'), epIn(net.id, '1', '10.0.0.2'), 3n),
          entry(epKey(net.id, '2'), epIn(net.id, '2', '10.0.0.3'), 3n),
          own,
        ],
        revision: next(),
      },
      keys.endpointsOf(net.id),
    )
    same()
    expect(changes.at(-1)).toEqual({ put: [], deleted: [] })
    // a snapshot without endpoint 2 and with endpoint 1 changed; the broken network fixed
    await m.apply(
      {
        kind: 'snapshot',
        entries: [entry(epKey(net.id, '1'), epIn(net.id, '1', '10.0.0.9'), 12n), own],
        revision: next(),
      },
      keys.endpointsOf(net.id),
    )
    expect(changes.at(-1)).toEqual({ put: [epKey(net.id, '1')], deleted: [epKey(net.id, '2')] })
    await m.apply({
      kind: 'delta',
      put: [entry(keys.network(hex('c')), { ...net, id: hex('c'), name: 'green', vni: 258 }, 13n)],
      deleted: [keys.network(net2.id)],
      revision: next(),
    })
    same()
    expect(m.view().invalid).toEqual([])
    expect(m.view().endpoints.get(hex('1'))?.ip).toBe('10.0.0.9')
    // an own write a later snapshot shows deleted (a disconnect meanwhile), and a forget
    m.ownWrites([entry(epKey(net2.id, '5'), epIn(net2.id, '5', '10.0.1.5'), 20n)])
    same()
    rev = 20n
    await m.apply(
      {
        kind: 'snapshot',
        entries: [entry(epKey(net2.id, '3'), epIn(net2.id, '3', '10.0.1.2'), 4n)],
        revision: next(),
      },
      keys.endpointsOf(net2.id),
    )
    same()
    expect(m.view().endpoints.has(hex('5'))).toBe(false)
    await m.forget((k) => k.startsWith(keys.endpointsOf(net.id)))
    same()
    expect([...m.view().endpoints.keys()]).toEqual([hex('3')])
  })

  test('a directory read kept between changes follows every change below it: snapshots, deltas, own writes, forgets', async () => {
    const m = await mirror()
    const dir = keys.networks()
    const other = { ...net, id: hex('b'), name: 'red', vni: 257 }
    const names = async () => (await m.list(dir)).map((e) => e.key).sort()
    await m.apply(
      { kind: 'snapshot', entries: [entry(keys.network(net.id), net, 5n)], revision: 5n },
      dir,
    )
    expect(await names()).toEqual([keys.network(net.id)])
    // a caller's changes to its answer are its own
    ;(await m.list(dir)).length = 0
    expect(await names()).toEqual([keys.network(net.id)])
    // a change elsewhere keeps it; one below it is seen at once
    await m.apply(
      {
        kind: 'snapshot',
        entries: [entry(keys.endpoint(net.id, hex('1')), ep('1', '10.0.0.2'), 6n)],
        revision: 6n,
      },
      keys.endpointsOf(net.id),
    )
    expect(await names()).toEqual([keys.network(net.id)])
    m.ownWrites([entry(keys.network(other.id), other, 7n)])
    expect(await names()).toEqual([keys.network(net.id), keys.network(other.id)].sort())
    // the store's answer at 8 holds the own write, and not the first network any more
    await m.apply(
      {
        kind: 'delta',
        put: [entry(keys.network(other.id), other, 7n)],
        deleted: [keys.network(net.id)],
        revision: 8n,
      },
      dir,
    )
    expect(await names()).toEqual([keys.network(other.id)])
    await m.forget((k) => k.startsWith(dir))
    expect(await names()).toEqual([])
  })

  test('listeners hear every event (also one that changed nothing) until they unsubscribe', async () => {
    const m = await mirror()
    let heard = 0
    const off = m.onChange(() => heard++)
    await m.apply({ kind: 'snapshot', entries: [], revision: 1n })
    await m.apply({ kind: 'snapshot', entries: [], revision: 2n })
    m.ownWrites([entry(keys.network(net.id), net, 3n)])
    expect(heard).toBe(3)
    off()
    await m.apply({ kind: 'snapshot', entries: [], revision: 4n })
    expect(heard).toBe(3)
  })

  test('records that do not parse are skipped and reported, never half-used', async () => {
    const reported: string[] = []
    const m = await mirror({ onInvalid: (inv) => reported.push(...inv.map((i) => i.key)) })
    await m.apply({
      kind: 'snapshot',
      entries: [
        entry(keys.network(net.id), net, 1n),
        entry(keys.network(hex('b')), '{"id":"nope"}', 2n),
      ],
      revision: 2n,
    })
    expect([...m.view().networks.keys()]).toEqual([net.id])
    expect(reported).toEqual([keys.network(hex('b'))])
  })

  test('waitFor resolves on the change it waits for, at once when it already holds', async () => {
    const m = await mirror()
    await m.waitFor(() => true, 10)
    const arrived = m.waitFor((v) => v.endpoints.has(hex('4')), 2000, 'endpoint 4')
    await m.apply({
      kind: 'snapshot',
      entries: [entry(keys.network(net.id), net, 1n)],
      revision: 1n,
    })
    m.ownWrites([entry(keys.endpoint(net.id, hex('4')), ep('4', '10.0.0.5'), 2n)])
    await arrived
  })

  test('waitFor fails at its deadline naming what it waited for, and stops listening', async () => {
    const m = await mirror()
    const t0 = Date.now()
    const err = await m.waitFor(() => false, 100, 'endpoint 5 to arrive').catch((e) => e)
    expect(err).toBeInstanceOf(StoreUnreachableError)
    expect(err.message).toContain('endpoint 5 to arrive')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(95)
    // no leftover waiter: the mirror has no listener left
    expect((m as unknown as { listeners: Set<unknown> }).listeners.size).toBe(0)
  })
})
