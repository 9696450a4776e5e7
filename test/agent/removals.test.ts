// What the agent removed stays removed by the re-announce (issue h28), without root: real units
// (the embedded KV server over HTTP, the mirror db, the cluster mirror, the cluster operations,
// the agent service), with the mirror not following the store until a test says so — as a
// restarted agent's mirror is the last run's until its follower synced. The root test with
// real agents, namespaces and a restart is test/agent/reannounce.test.ts.
import { afterEach, describe, expect, test } from 'bun:test'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgentService } from '../../src/agent/index.ts'
import { Removals } from '../../src/agent/removals.ts'
import { ClusterOps, keys, ROOT, type EndpointRecord } from '../../src/cluster/index.ts'
import { ClusterMirror, MirrorDb, followStore } from '../../src/mirror/index.ts'
import { StoreStatus, observeWrites, type StoreOp, type StoreWatch } from '../../src/store/index.ts'
import { faultyStore, startKvRig, type TxnFault } from '../fakes/agent-store.ts'
import { quietLog } from '../fakes/agent-service-rig.ts'
import { waitFor } from '../harness/wait.ts'

let cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.reverse()) await c()
  cleanups = []
})

async function rig() {
  const kv = await startKvRig()
  cleanups.push(() => kv.cleanup())
  let fault: (ops: StoreOp[]) => TxnFault = () => 'pass'
  let gate: Promise<void> | undefined
  const held: StoreOp[][] = []
  const faults = faultyStore(
    kv.store,
    (ops) => fault(ops),
    async (ops) => {
      const g = gate
      if (!g) return
      held.push(ops)
      await g
      held.splice(held.indexOf(ops), 1)
    },
  )
  const db = await MirrorDb.open(':memory:')
  const mirror = new ClusterMirror(db)
  const synced = new Set<string>()
  const removals = new Removals({ mirror, networkSynced: (id) => synced.has(id) })
  removals.start()
  // as the agent wires it: every write of the agent goes through the observed store
  const writes = removals.observe(observeWrites(faults.store, (w) => mirror.ownWrites(w)))
  const ops = new ClusterOps(writes, 1450, mirror)
  const status = new StoreStatus()
  let watch: StoreWatch | undefined
  const service = new AgentService({
    node: 'n1',
    datapathKind: 'bpf',
    ops,
    mirror,
    reconciler: {
      trigger() {},
      settled: async () => {},
      attachDone: async () => ({ ok: true }) as never,
      isAttached: () => true,
      localError: () => undefined,
      stats: { passes: 0, lastDurationMs: 0, lastError: null },
      failures: () => [],
    } as never,
    localFacts: async () => [],
    stats: async () => [],
    metrics: async () => '',
    storeStatus: status,
    registered: () => true,
    removals,
    log: quietLog,
    attachTimeoutMs: 200,
  })
  cleanups.push(async () => {
    removals.stop()
    await service.close()
    watch?.stop()
    await watch?.done
    db.close()
  })
  const net = await ops.createNetwork({ name: 'blue', subnet: '10.77.0.0/24' })
  // this node's endpoints, as a connect writes them (record and address in one transaction), into
  // the view as own writes; their sandboxes are plain files (present: nothing to release)
  const dir = mkdtempSync(join(tmpdir(), 'weft-removals-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  let n = 0
  const endpoint = async (): Promise<EndpointRecord> => {
    n++
    const sandbox = join(dir, `sb${n}`)
    writeFileSync(sandbox, '')
    const rec: EndpointRecord = {
      id: createHash('sha256').update(`ep${n}`).digest('hex'),
      networkId: net.id,
      name: `sb${n}`,
      ip: `10.77.0.${n + 10}`,
      mac: `02:00:00:00:00:${String(n).padStart(2, '0')}`,
      node: 'n1',
      sandbox,
      ifname: 'eth0',
      external: false,
      created: new Date().toISOString(),
    }
    const out = await writes.txn([
      { op: 'put', key: keys.ipam(net.id, rec.ip), value: rec.id, ifRevision: 0n },
      { op: 'put', key: keys.endpoint(net.id, rec.id), value: JSON.stringify(rec), ifRevision: 0n },
    ])
    if (!out.ok) throw new Error(`could not write endpoint ${rec.name}`)
    return rec
  }
  const stored = async () =>
    (await kv.store.list(keys.endpoints())).map((e) => e.key.slice(e.key.lastIndexOf('/') + 1))
  return {
    kv,
    ops,
    writes,
    mirror,
    removals,
    service,
    net,
    synced,
    endpoint,
    stored,
    setFault: (f: typeof fault) => (fault = f),
    /** Transactions held before the store now. */
    held: () => held,
    /** Hold every txn before it reaches the store until the returned function is called. */
    hold: () => {
      let open!: () => void
      gate = new Promise<void>((r) => (open = r))
      return () => {
        gate = undefined
        open()
      }
    },
    /** The mirror starts following the store: the view catches up with it. */
    follow: () => {
      watch = followStore(kv.store, ROOT, mirror, status)
    },
  }
}

describe('Removals', () => {
  test('a committed delete is remembered until the view hears of it, then forgotten', async () => {
    const r = await rig()
    const ep = await r.endpoint()
    expect(r.mirror.view().endpoints.has(ep.id)).toBe(true)
    expect(r.removals.has(ep)).toBe(false)
    expect(await r.ops.removeEndpoint(ep)).toBe('removed')
    // the delete is no own write: the view still holds the record
    expect(r.mirror.view().endpoints.has(ep.id)).toBe(true)
    expect(r.removals.has(ep)).toBe(true)
    r.follow()
    await waitFor(() => !r.mirror.view().endpoints.has(ep.id), {
      what: 'the view to hear of the delete',
    })
    expect(r.removals.has(ep)).toBe(false)
    expect(r.removals.size).toBe(0)
  })

  test('a delete under way counts as a removal; one rolled back removed nothing', async () => {
    const r = await rig()
    const ep = await r.endpoint()
    const open = r.hold()
    const removing = r.ops.removeEndpoint(ep)
    // removeEndpoint reads the record, then sends its delete: held before the store
    await waitFor(() => r.removals.has(ep), { what: 'the delete to be on its way' })
    expect(await r.stored()).toContain(ep.id)
    open()
    expect(await removing).toBe('removed')
    expect(r.removals.has(ep)).toBe(true)

    // a delete whose condition fails (the record changed meanwhile) is rolled back: nothing removed
    const other = await r.endpoint()
    const rolledBack = await r.writes.txn([
      { op: 'delete', key: keys.endpoint(r.net.id, other.id), ifRevision: 1n },
    ])
    expect(rolledBack.ok).toBe(false)
    expect(r.removals.has(other)).toBe(false)
    expect(r.removals.has(ep)).toBe(true)
  })

  test('a delete whose answer was lost is remembered until the network is synced', async () => {
    const r = await rig()
    const ep = await r.endpoint()
    r.setFault((ops) => (ops.some((o) => o.op === 'delete') ? 'lost-answer' : 'pass'))
    await expect(r.ops.removeEndpoint(ep)).rejects.toThrow()
    r.setFault(() => 'pass')
    expect(await r.stored()).not.toContain(ep.id) // it did land
    expect(r.removals.has(ep)).toBe(true)
    r.synced.add(r.net.id) // the view is the store's answer from now on
    expect(r.removals.has(ep)).toBe(false)
  })

  test("a network's removal covers every endpoint under it, and only those", async () => {
    const r = await rig()
    const ep = await r.endpoint()
    expect(
      (await r.writes.txn([{ op: 'delete-prefix', prefix: keys.endpointsOf(r.net.id) }])).ok,
    ).toBe(true)
    expect(r.removals.has(ep)).toBe(true)
    expect(r.removals.has({ id: ep.id, networkId: 'f'.repeat(64) })).toBe(false)
    r.follow()
    await waitFor(() => r.removals.size === 0, { what: 'the view to hear of the removal' })
  })

  test('a record this agent writes again after removing it is no longer removed', async () => {
    const r = await rig()
    const ep = await r.endpoint()
    expect(await r.ops.removeEndpoint(ep)).toBe('removed')
    expect(r.removals.has(ep)).toBe(true)
    const out = await r.ops.reannounce([ep]) // as a connect of the same record would write it
    expect(out).toBe(1)
    expect(r.removals.has(ep)).toBe(false)
  })
})

describe('the re-announce', () => {
  test('writes back what the store lost, and not what this agent removed before its view heard of it', async () => {
    const r = await rig()
    const lost = await r.endpoint()
    const disconnected = await r.endpoint()
    const released = await r.endpoint()
    const kept = await r.endpoint()
    // the store loses one record (another hand, as a store restarted without state)
    await r.kv.store.txn([
      { op: 'delete', key: keys.endpoint(r.net.id, lost.id) },
      { op: 'delete', key: keys.ipam(r.net.id, lost.ip) },
    ])
    // this agent removes two: a disconnect (its wait for the view times out: not following)
    // and a release (as the sandbox follower and a connect's undo remove)
    await r.service.disconnect('blue', disconnected.name)
    expect(await r.ops.removeEndpoint(released)).toBe('removed')
    expect(await r.service.reannounce()).toBe(1)
    expect((await r.stored()).sort()).toEqual([lost.id, kept.id].sort())
    // once the view has caught up, nothing is remembered and nothing more is written back
    r.follow()
    await waitFor(() => r.removals.size === 0, { what: 'the view to hear of the removals' })
    expect(await r.service.reannounce()).toBe(0)
    expect((await r.stored()).sort()).toEqual([lost.id, kept.id].sort())
  })

  test('a removal sent while the re-announce runs is not undone by its later writes', async () => {
    const r = await rig()
    const eps = [await r.endpoint(), await r.endpoint(), await r.endpoint()]
    // the store lost them all
    await r.kv.store.txn([
      { op: 'delete-prefix', prefix: keys.endpointsOf(r.net.id) },
      { op: 'delete-prefix', prefix: keys.ipamOf(r.net.id) },
    ])
    // the re-announce's first write is held before the store; meanwhile a later one is removed
    const open = r.hold()
    const reannounced = r.service.reannounce()
    await waitFor(() => r.held().length === 1, { what: "the re-announce's first write to be held" })
    const first = eps.find((e) =>
      r.held()[0]!.some((o) => o.op === 'put' && o.key === keys.endpoint(r.net.id, e.id)),
    )!
    const later = eps.find((e) => e !== first)!
    const removing = r.writes.txn([{ op: 'delete', key: keys.endpoint(r.net.id, later.id) }])
    expect(r.removals.has(later)).toBe(true)
    open()
    expect((await removing).ok).toBe(true)
    expect(await reannounced).toBe(2)
    expect((await r.stored()).sort()).toEqual(
      eps
        .filter((e) => e !== later)
        .map((e) => e.id)
        .sort(),
    )
  })
})
