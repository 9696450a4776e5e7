// The agent service, wired to real units (embedded KV server, cluster mirror, reconciler) on a
// recording fake datapath: a connect either succeeds or changes nothing, and says which — also
// when the attach fails, the undo cannot land at once, or the store's answer is lost.
import { afterEach, describe, expect, test } from 'bun:test'
import { AttachFailedError, NotFoundError, OutcomeUnknownError, StoreUnreachableError, ValidationError } from '../../src/errors/index.ts'
import { keys, ROOT } from '../../src/cluster/index.ts'
import { hostIfnameFor } from '../../src/net/index.ts'
import type { StoreOp } from '../../src/store/index.ts'
import { startServiceRig, type ServiceRig } from '../fakes/agent-service-rig.ts'

let rigs: ServiceRig[] = []
afterEach(async () => {
  for (const r of rigs) await r.close()
  rigs = []
})
async function rig(o?: Parameters<typeof startServiceRig>[0]) {
  const r = await startServiceRig(o)
  rigs.push(r)
  return r
}

/** Poll until `cond` holds (never a bare sleep). */
async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await Bun.sleep(10)
  }
}

const endpointKeys = async (r: ServiceRig) => (await r.store.list(`${ROOT}endpoints/`)).map((e) => e.key)
const ipamKeys = async (r: ServiceRig) => (await r.store.list(`${ROOT}ipam/`)).map((e) => e.key)
/** The undo of a connect: the conditional delete of an endpoint record. */
const isUndo = (ops: StoreOp[]) => ops[0]?.op === 'delete' && ops[0].ifRevision !== undefined && ops[0].key.includes('/endpoints/')
const isConnect = (ops: StoreOp[]) => ops.some((o) => o.op === 'put' && o.key.includes('/endpoints/'))

describe('AgentService: connect', () => {
  test('a connect is attached when it returns; the same sandbox gets eth0, eth1 even when asked at once', async () => {
    const r = await rig()
    await r.service.createNetwork({ name: 'blue' })
    await r.service.createNetwork({ name: 'red' })
    const [a, b] = await Promise.all([
      r.service.connect({ network: 'blue', sandbox: 'sb' }),
      r.service.connect({ network: 'red', sandbox: 'sb' }),
    ])
    expect(a.status).toBe('attached')
    expect(b.status).toBe('attached')
    expect(new Set([a.record.ifname, b.record.ifname])).toEqual(new Set(['eth0', 'eth1']))
    expect(r.datapath.local.get(hostIfnameFor(a.record.id))?.ip).toBe(a.record.ip)
    const listed = await r.service.endpoints('blue')
    expect(listed.map((e) => e.status)).toEqual(['attached'])
  })

  test('a missing sandbox or no sandbox is refused before anything is written', async () => {
    const r = await rig()
    await r.service.createNetwork({ name: 'blue' })
    expect(await r.service.connect({ network: 'blue', sandbox: 'missing-1' }).catch((e) => e)).toBeInstanceOf(NotFoundError)
    expect(await r.service.connect({ network: 'blue' }).catch((e) => e)).toBeInstanceOf(ValidationError)
    expect(r.faults.state.txns.filter((t) => isConnect(t.ops))).toEqual([])
  })

  test('a failed attach is a server fault with its own error, and the endpoint is removed again', async () => {
    const r = await rig()
    await r.service.createNetwork({ name: 'blue' })
    r.datapath.failAttach.set('sb', 'veth create: EEXIST')
    const err = await r.service.connect({ network: 'blue', sandbox: 'sb' }).catch((e) => e)
    expect(err).toBeInstanceOf(AttachFailedError)
    expect(err).not.toBeInstanceOf(ValidationError)
    expect(err.code).toBe('attach_failed')
    expect(err.message).toContain('veth create: EEXIST')
    expect(err.message).toContain('removed again (nothing changed)')
    expect(await endpointKeys(r)).toEqual([])
    expect(await ipamKeys(r)).toEqual([])
  })

  test("another network's failure neither fails a connect nor shows in its answer", async () => {
    const r = await rig()
    const other = await r.service.createNetwork({ name: 'broken' })
    await r.service.createNetwork({ name: 'blue' })
    await r.service.connect({ network: 'broken', sandbox: 'sb0' })
    // every pass now fails programming a remote endpoint of 'broken'
    r.datapath.failRemote.set(other.vni, 'upsert remote in broken: unrelated boom')
    await r.service.connect({ network: 'broken', ip: '10.0.0.99', external: { name: 'ext', mac: '02:00:00:00:00:09', vtep: '192.0.2.9' } })
    await until(() => (r.reconciler.stats.lastError ?? '').includes('unrelated boom'), 'the reconciler to report the failing item')
    const ok = await r.service.connect({ network: 'blue', sandbox: 'sb' })
    expect(ok.status).toBe('attached')
    expect(JSON.stringify(ok)).not.toContain('unrelated boom')
  })

  test("an attach a failing pass never reached is a server fault that does not carry the pass's error", async () => {
    const r = await rig({ attachTimeoutMs: 600 })
    await r.service.createNetwork({ name: 'blue' })
    // reading the kernel's state fails: every pass ends before any item
    r.datapath.failActual = 'read actual state: unrelated boom'
    r.reconciler.resync()
    await until(() => (r.reconciler.stats.lastError ?? '').includes('unrelated boom'), 'the reconciler passes to fail')
    const err = await r.service.connect({ network: 'blue', sandbox: 'sb' }).catch((e) => e)
    expect(err).toBeInstanceOf(AttachFailedError)
    expect(err.message).not.toContain('unrelated boom')
    expect(err.message).toContain('not programmed within 600 ms')
    expect(err.message).toContain('nothing changed')
    expect(await endpointKeys(r)).toEqual([])
  })

  test('an undo the store refuses at first is retried until it lands, within the request', async () => {
    let refused = 0
    const r = await rig({ plan: (ops) => (isUndo(ops) && refused++ < 2 ? 'unreachable' : 'pass') })
    await r.service.createNetwork({ name: 'blue' })
    r.datapath.failAttach.set('sb', 'no such netns')
    const err = await r.service.connect({ network: 'blue', sandbox: 'sb' }).catch((e) => e)
    expect(err).toBeInstanceOf(AttachFailedError)
    expect(err.message).toContain('removed again (nothing changed)')
    expect(refused).toBe(3)
    expect(await endpointKeys(r)).toEqual([])
  })

  test('an undo that cannot land in time is said so, and retried in the background until it does', async () => {
    let storeDown = true
    const r = await rig({ plan: (ops) => (isUndo(ops) && storeDown ? 'unreachable' : 'pass'), undoBudgetMs: 300 })
    await r.service.createNetwork({ name: 'blue' })
    r.datapath.failAttach.set('sb', 'no such netns')
    const err = await r.service.connect({ network: 'blue', sandbox: 'sb' }).catch((e) => e)
    expect(err).toBeInstanceOf(AttachFailedError)
    expect(err.message).toContain('weft retries until it is gone')
    expect(r.service.pendingUndoIds()).toHaveLength(1)
    expect(await endpointKeys(r)).toHaveLength(1)
    storeDown = false
    await until(async () => (await endpointKeys(r)).length === 0, 'the background undo to land')
    await until(() => r.service.pendingUndoIds().length === 0, 'the undo to be forgotten')
  })

  test('when the undo cannot land but the endpoint got attached after all, the connect succeeds', async () => {
    let release!: () => void
    const r = await rig({
      attachTimeoutMs: 300,
      undoBudgetMs: 400,
      plan: (ops) => (isUndo(ops) ? 'unreachable' : 'pass'),
      // the slow attach finishes while the first undo is on its way
      before: async (ops) => {
        if (isUndo(ops)) release()
      },
    })
    await r.service.createNetwork({ name: 'blue' })
    r.datapath.attachGate = new Promise<void>((res) => (release = res))
    const ok = await r.service.connect({ network: 'blue', sandbox: 'sb' })
    expect(ok.status).toBe('attached')
    expect(await endpointKeys(r)).toHaveLength(1)
    expect(r.service.pendingUndoIds()).toEqual([])
  })

  test('a connect whose answer was lost is read back: written means attached and success', async () => {
    const r = await rig({ plan: (ops) => (isConnect(ops) ? 'lost-answer' : 'pass') })
    await r.service.createNetwork({ name: 'blue' })
    const ok = await r.service.connect({ network: 'blue', sandbox: 'sb' })
    expect(ok.status).toBe('attached')
    expect(await endpointKeys(r)).toEqual([keys.endpoint(ok.record.networkId, ok.record.id)])
    expect(r.datapath.local.has(hostIfnameFor(ok.record.id))).toBe(true)
  })

  test('a connect that never reached the store says nothing changed', async () => {
    const r = await rig({ plan: (ops) => (isConnect(ops) ? 'unreachable' : 'pass') })
    await r.service.createNetwork({ name: 'blue' })
    const err = await r.service.connect({ network: 'blue', sandbox: 'sb' }).catch((e) => e)
    expect(err).toBeInstanceOf(StoreUnreachableError)
    expect(err.message).toContain('failed (nothing changed)')
    expect(await endpointKeys(r)).toEqual([])
    expect((await r.service.health()).store.reachable).toBe(false)
  })

  test('a connect whose outcome cannot be found out says so, and converges to nothing changed', async () => {
    const r = await rig({ undoBudgetMs: 200, plan: (ops) => (isConnect(ops) ? 'lost-answer' : 'pass') })
    await r.service.createNetwork({ name: 'blue' })
    r.faults.state.readsDown = true
    // the mirror guess needs no store read; the write lands, its answer is lost, the read-back fails
    const err = await r.service.connect({ network: 'blue', sandbox: 'sb' }).catch((e) => e)
    expect(err).toBeInstanceOf(OutcomeUnknownError)
    expect(err.code).toBe('outcome_unknown')
    expect(err.message).toContain('weft removes it again as soon as the store answers')
    expect(await endpointKeys(r)).toHaveLength(1)
    r.faults.state.readsDown = false
    await until(async () => (await endpointKeys(r)).length === 0, 'the endpoint to be removed again')
    expect(await ipamKeys(r)).toEqual([])
  })
})

describe('AgentService: the rest', () => {
  test('disconnect returns once the endpoint is detached here', async () => {
    const r = await rig()
    await r.service.createNetwork({ name: 'blue' })
    const c = await r.service.connect({ network: 'blue', sandbox: 'sb' })
    const d = await r.service.disconnect('blue', 'sb')
    expect(d.id).toBe(c.record.id)
    expect(r.datapath.local.has(hostIfnameFor(c.record.id))).toBe(false)
    expect(await endpointKeys(r)).toEqual([])
  })

  test('removeNetwork removes it and the datapath follows', async () => {
    const r = await rig()
    const net = await r.service.createNetwork({ name: 'blue' })
    await r.service.connect({ network: 'blue', sandbox: 'sb' })
    expect(r.datapath.networks.has(net.vni)).toBe(true)
    await r.service.disconnect('blue', 'sb')
    await r.service.removeNetwork('blue')
    await until(() => !r.datapath.networks.has(net.vni), 'the network to be removed from the datapath')
    expect(await r.service.listNetworks()).toEqual([])
  })

  test('nodes count endpoints per node; health says what is wrong', async () => {
    const r = await rig({ node: 'n7' })
    await r.service.createNetwork({ name: 'blue' })
    await r.service.connect({ network: 'blue', sandbox: 'sb' })
    await until(() => r.status.reachable, 'the watch to answer')
    expect(await r.service.nodes()).toEqual([{ name: 'n7', record: undefined, alive: false, endpoints: 1 }])
    const h = await r.service.health()
    expect(h).toMatchObject({ ok: true, node: 'n7', datapath: 'bpf', store: { reachable: true } })
    r.faults.state.readsDown = true
    // reads the store does not answer come from this agent's mirror (the API marks them stale)
    expect((await r.service.listNetworks()).map((n) => n.name)).toEqual(['blue'])
    const down = await r.service.health()
    expect(down.ok).toBe(false)
    expect(down.store.lastError).toContain('injected fault')
  })
})

describe('AgentService: errors as the admin API answers them', () => {
  test('a failed attach is a 500 with its code; an unknown outcome is a 503 that says so', async () => {
    const { statusOf, errorBody } = await import('../../src/api/errors.ts')
    const attach = new AttachFailedError('attach sb to blue failed: veth create: EEXIST')
    expect(statusOf(attach)).toBe(500)
    expect(errorBody(attach)).toEqual({ error: 'attach_failed', message: attach.message })
    const unknown = new OutcomeUnknownError('the write may or may not have been applied')
    expect(statusOf(unknown)).toBe(503)
    expect(errorBody(unknown).error).toBe('outcome_unknown')
  })
})

describe('AgentService on an etcd-shaped delta store', () => {
  test('connect, a failed attach, disconnect and network removal work unchanged', async () => {
    const r = await rig({ backing: 'memory' })
    const net = await r.service.createNetwork({ name: 'blue' })
    const c = await r.service.connect({ network: 'blue', sandbox: 'sb' })
    expect(c.status).toBe('attached')
    r.datapath.failAttach.set('sb2', 'no such netns')
    const err = await r.service.connect({ network: 'blue', sandbox: 'sb2' }).catch((e) => e)
    expect(err).toBeInstanceOf(AttachFailedError)
    expect(await endpointKeys(r)).toEqual([keys.endpoint(net.id, c.record.id)])
    await r.service.disconnect('blue', 'sb')
    expect(r.datapath.local.size).toBe(0)
    await r.service.removeNetwork('blue')
    await until(() => !r.datapath.networks.has(net.vni), 'the network to leave the datapath')
    expect(await r.store.list(`${ROOT}networks/`)).toEqual([])
  })
})
