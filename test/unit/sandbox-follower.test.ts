// Endpoints follow their sandbox, without root: plain files stand in for netns files (a file's
// st_dev + st_ino is its identity, as an nsfs inode is a namespace's; a hard link is the same
// namespace under another name). Real units around them: the embedded KV server, the cluster
// mirror, the reconciler on a recording datapath, the agent service and the SandboxFollower.
// The root tests with real namespaces and agents are test/agent/sandbox-follow.test.ts.
import { afterEach, describe, expect, test } from 'bun:test'
import { linkSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  AgentService,
  hostSandboxes,
  SandboxFollower,
  type Sandboxes,
} from '../../src/agent/index.ts'
import { ClusterOps, ROOT } from '../../src/cluster/index.ts'
import { ConflictError, ValidationError } from '../../src/errors/index.ts'
import { ClusterMirror, MirrorDb, followStore } from '../../src/mirror/index.ts'
import { Reconciler } from '../../src/reconcile/index.ts'
import { StoreStatus, observeWrites, type StoreWatch } from '../../src/store/index.ts'
import { AgentFakeDatapath } from '../fakes/agent-datapath.ts'
import { faultyStore, startKvRig } from '../fakes/agent-store.ts'
import { quietLog } from '../fakes/agent-service-rig.ts'
import { waitFor } from '../harness/wait.ts'

let cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.reverse()) await c()
  cleanups = []
})

/** The host's sandbox checks on files, with `foreign` interfaces present in every sandbox. */
const fileSandboxes = (foreign: string[] = []): Sandboxes => ({
  check: hostSandboxes.check,
  key: hostSandboxes.key,
  hasInterface: (_ref, ifname) => foreign.includes(ifname),
})

async function rig(o: { foreign?: string[]; follow?: boolean; watch?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'weft-sbfollow-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const kv = await startKvRig()
  cleanups.push(() => kv.cleanup())
  let releasesDown = false
  const faults = faultyStore(kv.store, (ops) =>
    releasesDown && ops.some((op) => op.op === 'delete') ? 'unreachable' : 'pass',
  )
  const db = await MirrorDb.open(':memory:')
  const mirror = new ClusterMirror(db)
  const datapath = new AgentFakeDatapath()
  const reconciler = new Reconciler({
    datapath,
    node: 'n1',
    view: () => mirror.view(),
    resyncMs: 60_000,
    onDetached: (h) => db.deleteLocalEndpoint(h),
    onAttached: (spec, res) =>
      db.setLocalEndpoint({
        endpointId: spec.id,
        hostIfname: spec.hostIfname,
        ifindex: 'ifindex' in res ? res.ifindex : null,
        status: 'ifindex' in res ? 'attached' : 'failed',
        error: 'error' in res ? res.error : null,
      }),
  })
  reconciler.start()
  const off = mirror.onChange(() => reconciler.trigger())
  const status = new StoreStatus()
  const ops = new ClusterOps(
    observeWrites(faults.store, (w) => mirror.ownWrites(w)),
    1450,
    mirror,
  )
  const watch: StoreWatch | undefined =
    o.watch === false ? undefined : followStore(kv.store, ROOT, mirror, status)
  const follower = new SandboxFollower({
    node: 'n1',
    mirror,
    ops,
    reconciler,
    log: quietLog,
    pollMs: 50,
    retryMs: 100,
  })
  if (o.follow !== false) follower.start()
  const service = new AgentService({
    node: 'n1',
    datapathKind: 'bpf',
    ops,
    mirror,
    reconciler,
    localFacts: () => db.localEndpoints(),
    stats: async () => [],
    metrics: async () => '',
    storeStatus: status,
    registered: () => true,
    sandboxes: fileSandboxes(o.foreign),
    followed: follower,
    log: quietLog,
    attachTimeoutMs: 3000,
  })
  cleanups.push(async () => {
    follower.stop()
    await service.close()
    watch?.stop()
    await watch?.done
    off()
    await reconciler.stop()
    db.close()
  })
  /** A new "namespace": a file of its own. */
  const sandbox = (name: string) => {
    const path = join(dir, name)
    writeFileSync(path, '')
    return path
  }
  const stored = async () =>
    (await kv.store.list(`${ROOT}endpoints/`)).map(
      (e) => JSON.parse(e.value) as { id: string; ip: string; name: string },
    )
  const ipam = async () => (await kv.store.list(`${ROOT}ipam/`)).map((e) => e.key.split('/').pop())
  return {
    dir,
    kv,
    service,
    ops,
    follower,
    sandbox,
    stored,
    ipam,
    setReleasesDown: (v: boolean) => (releasesDown = v),
  }
}

describe('endpoints follow their sandbox', () => {
  test('a gone sandbox releases its endpoints in every network, with no disconnect; the address is free for the next connect', async () => {
    const r = await rig()
    await r.service.createNetwork({ name: 'blue', subnet: '10.70.0.0/24' })
    await r.service.createNetwork({ name: 'red', subnet: '10.71.0.0/24' })
    const a = r.sandbox('a')
    const b = r.sandbox('b')
    const aBlue = await r.service.connect({ network: 'blue', sandbox: a })
    const aRed = await r.service.connect({ network: 'red', sandbox: a })
    const bBlue = await r.service.connect({ network: 'blue', sandbox: b })
    expect([aBlue.record.ifname, aRed.record.ifname]).toEqual(['eth0', 'eth1'])

    rmSync(a) // the container exits
    await waitFor(
      async () =>
        (await r.stored()).every((e) => e.id !== aBlue.record.id && e.id !== aRed.record.id),
      {
        what: "a's endpoints to leave the store",
        timeoutMs: 3000,
      },
    )
    expect((await r.stored()).map((e) => e.id)).toEqual([bBlue.record.id])
    expect(await r.ipam()).toEqual([bBlue.record.ip])
    expect(r.follower.released).toBe(2)

    const c = await r.service.connect({ network: 'blue', sandbox: r.sandbox('c') })
    expect(c.record.ip).toBe(aBlue.record.ip)
    expect(c.status).toBe('attached')
  })

  test('until its release lands, the endpoint is listed as gone, not attached; the release is retried', async () => {
    const r = await rig()
    await r.service.createNetwork({ name: 'blue', subnet: '10.72.0.0/24' })
    const a = r.sandbox('a')
    const ep = await r.service.connect({ network: 'blue', sandbox: a })
    expect((await r.service.endpoints('blue'))[0]!.status).toBe('attached')

    r.setReleasesDown(true)
    rmSync(a)
    await waitFor(async () => (await r.service.endpoints('blue'))[0]?.status === 'gone', {
      what: 'status gone',
      timeoutMs: 3000,
    })
    expect((await r.stored()).map((e) => e.id)).toEqual([ep.record.id]) // the store refused the release: still there

    r.setReleasesDown(false)
    await waitFor(async () => (await r.stored()).length === 0, {
      what: 'the retried release to land',
      timeoutMs: 3000,
    })
    await waitFor(async () => (await r.service.endpoints('blue')).length === 0, {
      what: 'the listing to drop it',
      timeoutMs: 3000,
    })
  })

  test('on start, endpoints whose sandbox went while the agent was down are released', async () => {
    const r = await rig({ follow: false })
    await r.service.createNetwork({ name: 'blue', subnet: '10.73.0.0/24' })
    const a = r.sandbox('a')
    const keep = await r.service.connect({ network: 'blue', sandbox: r.sandbox('keep') })
    await r.service.connect({ network: 'blue', sandbox: a })
    rmSync(a)
    r.follower.start()
    await waitFor(async () => (await r.stored()).length === 1, {
      what: 'the gone endpoint to be released at start',
      timeoutMs: 3000,
    })
    expect((await r.stored())[0]!.id).toBe(keep.record.id)
  })

  test('a sandbox replaced by another namespace under the same name releases the old endpoint', async () => {
    const r = await rig()
    await r.service.createNetwork({ name: 'blue', subnet: '10.74.0.0/24' })
    const a = r.sandbox('a')
    const ep = await r.service.connect({ network: 'blue', sandbox: a })
    // `ip netns del a; ip netns add a`: same path, another inode (made first, so it cannot reuse a's)
    renameSync(r.sandbox('a.new'), a)
    await waitFor(async () => !(await r.stored()).some((e) => e.id === ep.record.id), {
      what: 'the old endpoint to go',
      timeoutMs: 3000,
    })
  })
})

test('a re-announce (the store lost its state) does not write back an endpoint whose sandbox is gone', async () => {
  const r = await rig({ follow: false, watch: false })
  await r.service.createNetwork({ name: 'blue', subnet: '10.80.0.0/24' })
  const a = r.sandbox('a')
  const b = r.sandbox('b')
  await r.service.connect({ network: 'blue', sandbox: a })
  const kept = await r.service.connect({ network: 'blue', sandbox: b })
  rmSync(a)
  // the store restarted without state (the mirror, not following it here, keeps its copy)
  await r.kv.store.txn([
    { op: 'delete-prefix', prefix: `${ROOT}endpoints/` },
    { op: 'delete-prefix', prefix: `${ROOT}ipam/` },
  ])
  expect(await r.service.reannounce()).toBe(1)
  expect((await r.stored()).map((e) => e.id)).toEqual([kept.record.id])
})

describe('one sandbox, one identity', () => {
  test('the same namespace under another name is refused with 409 and changes nothing; in another network it gets eth1', async () => {
    const r = await rig()
    await r.service.createNetwork({ name: 'blue', subnet: '10.75.0.0/24' })
    await r.service.createNetwork({ name: 'red', subnet: '10.76.0.0/24' })
    const a = r.sandbox('a')
    const alias = join(r.dir, 'alias-of-a')
    linkSync(a, alias) // the same inode: as /proc/PID/ns/net is to /run/netns/a
    const first = await r.service.connect({ network: 'blue', sandbox: a })
    const before = await r.stored()
    const err = await r.service.connect({ network: 'blue', sandbox: alias }).catch((e) => e)
    expect(err).toBeInstanceOf(ConflictError)
    expect(err.code).toBe('endpoint_exists')
    expect(err.message).toContain(`as ${a}`)
    expect(await r.stored()).toEqual(before)

    const red = await r.service.connect({ network: 'red', sandbox: alias })
    expect(red.record.ifname).toBe('eth1')
    // disconnected under the other name: the same namespace is found
    expect((await r.service.disconnect('red', a)).id).toBe(red.record.id)
    expect((await r.service.disconnect('blue', alias)).id).toBe(first.record.id)
    expect(await r.stored()).toEqual([])
  })

  test('an eth0 weft did not make is skipped; a chosen ifname is used, refused when taken or malformed', async () => {
    const r = await rig({ foreign: ['eth0', 'lo'] })
    await r.service.createNetwork({ name: 'blue', subnet: '10.77.0.0/24' })
    await r.service.createNetwork({ name: 'red', subnet: '10.78.0.0/24' })
    await r.service.createNetwork({ name: 'green', subnet: '10.79.0.0/24' })
    const a = r.sandbox('a')
    expect((await r.service.connect({ network: 'blue', sandbox: a })).record.ifname).toBe('eth1')
    expect(
      (await r.service.connect({ network: 'red', sandbox: a, ifname: 'data0' })).record.ifname,
    ).toBe('data0')
    const before = await r.stored()
    for (const ifname of ['eth0', 'eth1', 'data0', 'lo']) {
      const err = await r.service.connect({ network: 'green', sandbox: a, ifname }).catch((e) => e)
      expect(err).toBeInstanceOf(ConflictError)
      expect(err.code).toBe('ifname_taken')
    }
    for (const ifname of ['', 'x'.repeat(16), 'a/b', '..']) {
      expect(
        await r.service.connect({ network: 'green', sandbox: a, ifname }).catch((e) => e),
      ).toBeInstanceOf(ValidationError)
    }
    const ext = { name: 'ext', mac: '02:00:00:00:00:01', vtep: '192.0.2.1' }
    expect(
      await r.service
        .connect({ network: 'green', ip: '10.79.0.9', external: ext, ifname: 'eth0' })
        .catch((e) => e),
    ).toBeInstanceOf(ValidationError)
    expect(await r.stored()).toEqual(before)
    expect((await r.service.connect({ network: 'green', sandbox: a })).record.ifname).toBe('eth2')
  })
})
