// Cluster operations against a real cluster store (the embedded KV server in this process):
// compare-and-set retries under concurrency, every refusal changes nothing, removals roll back
// their mark, and writes whose answer was lost are settled by reading back.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { ClusterOps, keys, ROOT, type StoreReader } from '../../src/cluster/index.ts'
import {
  ConflictError,
  NotFoundError,
  OutcomeUnknownError,
  StoreUnreachableError,
  ValidationError,
} from '../../src/errors/index.ts'
import type { StoreEntry } from '../../src/store/index.ts'
import { faultyStore, startKvRig, type KvRig } from '../fakes/agent-store.ts'

let rig: KvRig
let ops: ClusterOps
beforeAll(async () => {
  rig = await startKvRig()
  ops = new ClusterOps(rig.store, 1450)
})
afterAll(() => rig.cleanup())

const none = () => new Set<string>()
const tree = async () =>
  (await rig.store.list(ROOT)).map((e) => `${e.key}@${e.modifyIndex}=${e.value}`)
let n = 0
const uniq = (p: string) => `${p}-${++n}`

/** Runs `fn`, expects it to throw `cls` with `code`, and the whole tree to be unchanged. */
async function refuses(
  fn: () => Promise<unknown>,
  cls: new (...a: never[]) => Error,
  code?: string,
): Promise<Error> {
  const before = await tree()
  const err = await fn().then(
    () => undefined,
    (e: Error) => e,
  )
  expect(err).toBeInstanceOf(cls)
  if (code) expect((err as { code?: string }).code).toBe(code)
  expect(await tree()).toEqual(before)
  return err!
}

describe('ClusterOps: networks', () => {
  test('concurrent creates on two agents all land, each with its own subnet and VNI', async () => {
    const other = new ClusterOps(rig.store, 1450)
    const names = Array.from({ length: 8 }, () => uniq('par'))
    const made = await Promise.all(
      names.map((name, i) => (i % 2 ? other : ops).createNetwork({ name })),
    )
    expect(new Set(made.map((m) => m.subnet)).size).toBe(8)
    expect(new Set(made.map((m) => m.vni)).size).toBe(8)
    const all = await ops.networks()
    for (const name of names) expect(all.some((x) => x.record.name === name)).toBe(true)
  })

  test('a create that loses the race on the network sequence re-reads and retries (no overlap, no refusal)', async () => {
    const rival = uniq('rival')
    // just before our first transaction, another agent creates a network in the same default pool
    const f = faultyStore(
      rig.store,
      () => 'pass',
      async (_, i) => {
        if (i === 0) await ops.createNetwork({ name: rival })
      },
    )
    const mine = await new ClusterOps(f.store, 1450).createNetwork({ name: uniq('loser') })
    expect(f.state.txns.map((t) => t.ok)).toEqual([false, true])
    const theirs = (await ops.resolveNetwork(rival)).record
    expect(mine.subnet).not.toBe(theirs.subnet)
    expect(mine.vni).not.toBe(theirs.vni)
  })

  test('every bad create is refused with its reason and changes nothing', async () => {
    const taken = await ops.createNetwork({
      name: uniq('taken'),
      subnet: '172.30.0.0/24',
      vni: 4000,
    })
    await refuses(() => ops.createNetwork({ name: '-bad name' }), ValidationError)
    await refuses(
      () => ops.createNetwork({ name: uniq('x'), subnet: '10.9.0.0/31' }),
      ValidationError,
    )
    await refuses(() => ops.createNetwork({ name: uniq('x'), mtu: 9000 }), ValidationError)
    await refuses(
      () => ops.createNetwork({ name: uniq('x'), gateway: '10.9.0.1' }),
      ValidationError,
    )
    await refuses(
      () => ops.createNetwork({ name: uniq('x'), subnet: '10.9.0.0/24', ipRange: '10.9.1.0/28' }),
      ValidationError,
    )
    await refuses(
      () => ops.createNetwork({ name: uniq('x'), subnet: '10.9.0.0/24', gateway: '10.9.0.255' }),
      ValidationError,
    )
    await refuses(() => ops.createNetwork({ name: uniq('x'), vni: 1 << 24 }), ValidationError)
    await refuses(() => ops.createNetwork({ name: taken.name }), ConflictError, 'name_taken')
    await refuses(
      () => ops.createNetwork({ name: uniq('x'), subnet: '172.30.0.128/25' }),
      ConflictError,
      'subnet_overlap',
    )
    await refuses(
      () => ops.createNetwork({ name: uniq('x'), subnet: '172.31.0.0/24', vni: 4000 }),
      ConflictError,
      'vni_taken',
    )
    await refuses(() => ops.resolveNetwork('no-such-network'), NotFoundError, 'network_not_found')
  })

  test('a network with endpoints is not removed, and its removal mark is lifted again', async () => {
    const net = await ops.createNetwork({ name: uniq('busy') })
    await ops.connect({ network: net.name, sandbox: 'sb1' }, 'n1', none)
    const err = await ops.removeNetwork(net.name).catch((e) => e)
    expect(err).toBeInstanceOf(ConflictError)
    expect(err.code).toBe('network_in_use')
    const after = (await ops.resolveNetwork(net.name)).record
    expect(after.removing).toBeUndefined()
    // connects still work
    await ops.connect({ network: net.name, sandbox: 'sb2' }, 'n1', none)
  })

  test('an unmark that cannot land is reported (never swallowed), and the next rm lifts it', async () => {
    const net = await ops.createNetwork({ name: uniq('stuck') })
    await ops.connect({ network: net.name, sandbox: 'sb1' }, 'n1', none)
    // the mark lands; every unmark attempt gets no answer
    const f = faultyStore(rig.store, (o, i) =>
      i > 0 && o[0]?.op === 'put' && o[0].key === keys.network(net.id) ? 'unreachable' : 'pass',
    )
    const flaky = new ClusterOps(f.store, 1450, undefined, 2)
    const err = await flaky.removeNetwork(net.name).catch((e) => e)
    expect(err).toBeInstanceOf(StoreUnreachableError)
    expect(err.message).toContain(`network ${net.name} stays marked "being removed"`)
    expect(err.message).toContain(`weft network rm ${net.name}`)
    expect((await ops.resolveNetwork(net.name)).record.removing).toBe(true)
    // connects say why they fail, and what to do
    const refused = await ops
      .connect({ network: net.name, sandbox: 'sb9' }, 'n1', none)
      .catch((e) => e)
    expect(refused.message).toContain('is being removed')
    expect(refused.message).toContain('run it again')
    // a later rm (store healthy) is refused for the endpoint but lifts the mark
    expect((await ops.removeNetwork(net.name).catch((e) => e)).code).toBe('network_in_use')
    expect((await ops.resolveNetwork(net.name)).record.removing).toBeUndefined()
  })

  test('a removal whose answer was lost is settled by reading back: gone means removed', async () => {
    const net = await ops.createNetwork({ name: uniq('lost-rm') })
    const f = faultyStore(rig.store, (o) =>
      o.some((x) => x.op === 'delete-prefix') ? 'lost-answer' : 'pass',
    )
    const r = await new ClusterOps(f.store, 1450).removeNetwork(net.name)
    expect(r.id).toBe(net.id)
    expect(await rig.store.get(keys.network(net.id))).toBeUndefined()
    expect(await rig.store.get(keys.name(net.name))).toBeUndefined()
  })

  test('a removal that never reached the store changes nothing and says so', async () => {
    const net = await ops.createNetwork({ name: uniq('unreached-rm') })
    const f = faultyStore(rig.store, (o) =>
      o.some((x) => x.op === 'delete-prefix') ? 'unreachable' : 'pass',
    )
    const err = await new ClusterOps(f.store, 1450).removeNetwork(net.name).catch((e) => e)
    expect(err).toBeInstanceOf(StoreUnreachableError)
    expect(err.message).toContain('was not removed (nothing changed)')
    const back = (await ops.resolveNetwork(net.name)).record
    expect(back.removing).toBeUndefined()
  })

  test('a removal mark whose answer was lost is read back: marked means go on, unmarked means nothing changed', async () => {
    const isMark = (o: { op: string; value?: string }[]) =>
      o.length === 1 && o[0]!.op === 'put' && (o[0]!.value ?? '').includes('"removing":true')
    const a = await ops.createNetwork({ name: uniq('lost-mark') })
    const lost = faultyStore(rig.store, (o) => (isMark(o) ? 'lost-answer' : 'pass'))
    expect((await new ClusterOps(lost.store, 1450).removeNetwork(a.name)).id).toBe(a.id)
    expect(await rig.store.get(keys.network(a.id))).toBeUndefined()

    const b = await ops.createNetwork({ name: uniq('unreached-mark') })
    const never = faultyStore(rig.store, (o) => (isMark(o) ? 'unreachable' : 'pass'))
    const before = await tree()
    const err = await new ClusterOps(never.store, 1450).removeNetwork(b.name).catch((e) => e)
    expect(err).toBeInstanceOf(StoreUnreachableError)
    expect(err.message).toContain('was not removed (nothing changed)')
    expect(await tree()).toEqual(before)
  })

  test('a create whose answer was lost succeeds once the record is read back; one never applied says nothing changed', async () => {
    const lost = faultyStore(rig.store, () => 'lost-answer')
    const name = uniq('lost-create')
    const made = await new ClusterOps(lost.store, 1450).createNetwork({ name })
    expect((await ops.resolveNetwork(name)).record.id).toBe(made.id)

    const never = faultyStore(rig.store, () => 'unreachable')
    const name2 = uniq('never-create')
    const before = await tree()
    const err = await new ClusterOps(never.store, 1450)
      .createNetwork({ name: name2 })
      .catch((e) => e)
    expect(err).toBeInstanceOf(StoreUnreachableError)
    expect(err.message).toContain('nothing changed')
    expect(await tree()).toEqual(before)
  })
})

describe('ClusterOps: endpoints', () => {
  test('concurrent connects from two agents get distinct addresses', async () => {
    const net = await ops.createNetwork({ name: uniq('many'), subnet: '10.77.0.0/24' })
    const other = new ClusterOps(rig.store, 1450)
    const eps = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        (i % 2 ? other : ops).connect({ network: net.name, sandbox: `sb${i}` }, `n${i % 2}`, none),
      ),
    )
    expect(new Set(eps.map((e) => e.ip)).size).toBe(12)
    expect(eps.every((e) => e.ip !== net.gateway)).toBe(true)
  })

  test('two connects asking for the same address: one gets it, the other is refused', async () => {
    const net = await ops.createNetwork({ name: uniq('same-ip'), subnet: '10.78.0.0/24' })
    const results = await Promise.allSettled([
      ops.connect({ network: net.name, sandbox: 'a', ip: '10.78.0.9' }, 'n1', none),
      new ClusterOps(rig.store, 1450).connect(
        { network: net.name, sandbox: 'b', ip: '10.78.0.9' },
        'n2',
        none,
      ),
    ])
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
    expect(lost.reason.code).toBe('ip_taken')
  })

  test('every bad connect and disconnect is refused with its reason and changes nothing', async () => {
    const net = await ops.createNetwork({ name: uniq('refuse'), subnet: '10.79.0.0/30' })
    const first = await ops.connect({ network: net.name, sandbox: 'one' }, 'n1', none)
    await refuses(
      () => ops.connect({ network: 'nope', sandbox: 'x' }, 'n1', none),
      NotFoundError,
      'network_not_found',
    )
    await refuses(() => ops.connect({ network: net.name }, 'n1', none), ValidationError)
    await refuses(
      () => ops.connect({ network: net.name, sandbox: 'x', ip: '10.80.0.2' }, 'n1', none),
      ValidationError,
    )
    await refuses(
      () => ops.connect({ network: net.name, sandbox: 'x', ip: 'not-an-ip' }, 'n1', none),
      ValidationError,
    )
    await refuses(
      () => ops.connect({ network: net.name, sandbox: 'x', ip: net.gateway }, 'n1', none),
      ConflictError,
      'ip_taken',
    )
    await refuses(
      () => ops.connect({ network: net.name, sandbox: 'x', ip: first.ip }, 'n1', none),
      ConflictError,
      'ip_taken',
    )
    await refuses(
      () => ops.connect({ network: net.name, sandbox: 'one' }, 'n1', none),
      ConflictError,
      'endpoint_exists',
    )
    // a /30 has two host addresses: the gateway and `one`
    await refuses(
      () => ops.connect({ network: net.name, sandbox: 'two' }, 'n1', none),
      ConflictError,
      'pool_exhausted',
    )
    await refuses(
      () =>
        ops.connect(
          {
            network: net.name,
            external: { name: 'ext', mac: '02:00:00:00:00:01', vtep: '192.0.2.1' },
          },
          'n1',
          none,
        ),
      ValidationError,
    )
    await refuses(
      () =>
        ops.connect(
          {
            network: net.name,
            external: { name: 'ext', mac: 'zz', vtep: '192.0.2.1' },
            ip: '10.79.0.2',
          },
          'n1',
          none,
        ),
      ValidationError,
    )
    await refuses(
      () => ops.disconnect(net.name, 'nobody', 'n1'),
      NotFoundError,
      'endpoint_not_found',
    )
    await refuses(() => ops.disconnect(net.name, 'one', 'n2'), NotFoundError, 'endpoint_not_found')
    await refuses(() => ops.disconnect(net.name, first.id.slice(0, 12), 'n2'), ValidationError)
  })

  test('a stale mirror guess is caught by the CAS and retried from the store', async () => {
    const net = await ops.createNetwork({ name: uniq('stale'), subnet: '10.81.0.0/24' })
    const a = await ops.connect({ network: net.name, sandbox: 'a' }, 'n1', none)
    // a mirror that has the network (old revision included) but not a's endpoint, nor its
    // address (no mirror holds IPAM keys: they come and go with the endpoints)
    const snapshot: StoreEntry[] = await rig.store.list(ROOT)
    const behind = (k: string) =>
      k.startsWith(keys.ipamOf(net.id)) || k.startsWith(keys.endpointsOf(net.id))
    const stale: StoreReader = {
      list: async (p) => snapshot.filter((e) => e.key.startsWith(p) && !behind(e.key)),
    }
    const f = faultyStore(rig.store, () => 'pass')
    const b = await new ClusterOps(f.store, 1450, stale).connect(
      { network: net.name, sandbox: 'b' },
      'n1',
      none,
    )
    expect(b.ip).not.toBe(a.ip)
    expect(f.state.txns.map((t) => t.ok)).toEqual([false, true]) // the guess lost its CAS; the retry read the store
  })

  /** The store, counting the reads of each kind of key (ipam, endpoints, ...) it answered. */
  const countingReads = () => {
    const reads: string[] = []
    const kind = (k: string) => k.slice(ROOT.length).split('/')[0]!
    const reader: StoreReader = {
      list: async (p) => (reads.push(`mirror ${kind(p)}`), rig.store.list(p)),
    }
    const store = faultyStore(rig.store, () => 'pass')
    const wrapped = {
      ...store.store,
      list: async (p: string) => (reads.push(`store ${kind(p)}`), store.store.list(p)),
      get: async (k: string) => (reads.push(`store ${kind(k)}`), store.store.get(k)),
    }
    return { reads, reader, store: wrapped, txns: store.state.txns }
  }

  test('a guess from a current mirror is one transaction: no address read, the lower addresses checked in it', async () => {
    const net = await ops.createNetwork({ name: uniq('one-txn'), subnet: '10.84.0.0/24' })
    const a = await ops.connect({ network: net.name, sandbox: 'a' }, 'n1', none)
    const b = await ops.connect({ network: net.name, sandbox: 'b' }, 'n1', none)
    const c = countingReads()
    const third = await new ClusterOps(c.store, 1450, c.reader).connect(
      { network: net.name, sandbox: 'c' },
      'n1',
      none,
    )
    expect([a.ip, b.ip, third.ip]).toEqual(['10.84.0.2', '10.84.0.3', '10.84.0.4'])
    expect(c.reads.filter((r) => r.startsWith('store'))).toEqual([])
    expect(c.txns.map((t) => t.ok)).toEqual([true])
    const checks = c.txns[0]!.ops.filter((o) => o.op === 'check').map((o) => o.key)
    expect(checks.sort()).toEqual(
      [keys.network(net.id), keys.endpoint(net.id, a.id), keys.endpoint(net.id, b.id)].sort(),
    )
  })

  test('an address released behind the mirror is handed out again at once: the check fails, the retry reads the store', async () => {
    const net = await ops.createNetwork({ name: uniq('released'), subnet: '10.85.0.0/24' })
    const a = await ops.connect({ network: net.name, sandbox: 'a' }, 'n1', none)
    await ops.connect({ network: net.name, sandbox: 'b' }, 'n1', none)
    // the mirror still has a (.2); the store no longer does
    const snapshot: StoreEntry[] = await rig.store.list(ROOT)
    await ops.disconnect(net.name, 'a', 'n1')
    const mirror: StoreReader = { list: async (p) => snapshot.filter((e) => e.key.startsWith(p)) }
    const f = faultyStore(rig.store, () => 'pass')
    const c = await new ClusterOps(f.store, 1450, mirror).connect(
      { network: net.name, sandbox: 'c' },
      'n1',
      none,
    )
    expect(c.ip).toBe(a.ip)
    expect(f.state.txns.map((t) => t.ok)).toEqual([false, true])
  })

  test('a guess in a network too big to prove in one transaction reads the addresses first, and still takes the lowest', async () => {
    const net = await ops.createNetwork({ name: uniq('big'), subnet: '10.86.0.0/24' })
    const made = []
    for (let i = 0; i < 45; i++)
      made.push(await ops.connect({ network: net.name, sandbox: `s${i}` }, 'n1', none))
    await ops.disconnect(net.name, 's7', 'n1')
    const c = countingReads()
    const next = await new ClusterOps(c.store, 1450, c.reader).connect(
      { network: net.name, sandbox: 'late' },
      'n1',
      none,
    )
    expect(next.ip).toBe(made[7]!.ip)
    expect(c.reads).toContain('store ipam')
    expect(c.txns.map((t) => t.ok)).toEqual([true])
    expect(c.txns[0]!.ops.length).toBeLessThanOrEqual(3)
  })

  test('concurrent connects of one agent on one network take the next addresses instead of racing each other for one', async () => {
    const net = await ops.createNetwork({ name: uniq('burst'), subnet: '10.88.0.0/24' })
    const f = faultyStore(rig.store, () => 'pass')
    // a mirror as current as the store: every guess reads the same state
    const local = new ClusterOps(f.store, 1450, rig.store)
    const eps = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        local.connect({ network: net.name, sandbox: `c${i}` }, 'n1', none),
      ),
    )
    expect(eps.map((e) => e.ip).sort()).toEqual(
      Array.from({ length: 8 }, (_, i) => `10.88.0.${i + 2}`).sort(),
    )
    expect(f.state.txns.map((t) => t.ok)).toEqual(Array(8).fill(true))
  })

  test("a mirror's network names are indexed per list it hands out: a network made again under its name resolves to the new one", async () => {
    const name = uniq('again')
    const first = await ops.createNetwork({ name, subnet: '10.87.0.0/24' })
    // a mirror handing out new arrays of the same entry objects, as the agent's does
    let rows = await rig.store.list(keys.networks())
    const mirror: StoreReader = { list: async () => rows.slice() }
    const local = new ClusterOps(rig.store, 1450, mirror)
    expect((await local.resolveNetwork(name, mirror)).record.id).toBe(first.id)
    await ops.removeNetwork(name)
    const second = await ops.createNetwork({ name, subnet: '10.87.0.0/24' })
    rows = [
      { key: `${keys.networks()}broken`, value: '{"name":', modifyIndex: 1n },
      ...(await rig.store.list(keys.networks())),
    ]
    expect((await local.resolveNetwork(name, mirror)).record.id).toBe(second.id)
    const ep = await local.connect({ network: name, sandbox: 'x' }, 'n1', none)
    expect(ep.networkId).toBe(second.id)
  })

  test('a connect whose answer was lost carries the record it tried, for the caller to settle', async () => {
    const net = await ops.createNetwork({ name: uniq('lost-connect') })
    const f = faultyStore(rig.store, () => 'lost-answer')
    const err = await new ClusterOps(f.store, 1450)
      .connect({ network: net.name, sandbox: 'x' }, 'n1', none)
      .catch((e) => e)
    expect(err).toBeInstanceOf(OutcomeUnknownError)
    const attempted = err.attempted as { id: string; networkId: string }
    expect((await ops.findEndpoint(attempted))?.key).toBe(keys.endpoint(net.id, attempted.id))
  })

  test('removeEndpoint removes record and address together, and is safe to repeat', async () => {
    const net = await ops.createNetwork({ name: uniq('undo'), subnet: '10.82.0.0/24' })
    const a = await ops.connect({ network: net.name, sandbox: 'a' }, 'n1', none)
    expect(await ops.removeEndpoint(a)).toBe('removed')
    expect(await rig.store.get(keys.ipam(net.id, a.ip))).toBeUndefined()
    // the address goes to someone else; a repeated undo must not take it from them
    const b = await ops.connect({ network: net.name, sandbox: 'b', ip: a.ip }, 'n1', none)
    expect(await ops.removeEndpoint(a)).toBe('absent')
    expect((await rig.store.get(keys.ipam(net.id, a.ip)))?.value).toBe(b.id)
  })

  test('reannounce writes back only what the store lost', async () => {
    const net = await ops.createNetwork({ name: uniq('re'), subnet: '10.83.0.0/24' })
    const a = await ops.connect({ network: net.name, sandbox: 'a' }, 'n1', none)
    expect(await ops.reannounce([a])).toBe(0)
    await ops.removeEndpoint(a)
    expect(await ops.reannounce([a])).toBe(1)
    expect(await ops.findEndpoint(a)).toBeDefined()
  })
})
