// Reconciler unit tests against the recording fake datapath: no root, no kernel, a few ms
// each. Pass order, fingerprints (nothing re-applied when nothing changed), failure
// isolation (one failing item of each kind never stops the others) and retries. Every test runs
// twice: with views rebuilt from the tree (each pass derives and compares everything), and with
// views updated by change events (passes derive and compare only the changed networks).
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { clusterView, keys, type ClusterView } from '../../src/cluster/index.ts'
import { viewApply, type ViewChange } from '../../src/cluster/view.ts'
import { Reconciler, type ReconcilerDeps } from '../../src/reconcile/index.ts'
import { FakeDatapath } from '../fakes/datapath.ts'
import { waitFor } from '../harness/wait.ts'

const ME = 'h1'
const id = (c: string) => c.repeat(64)
const ifn = (c: string) => `wf${id(c).slice(0, 10)}`
const mac = (ip: string) =>
  '02:42:' +
  ip
    .split('.')
    .map((b) => Number(b).toString(16).padStart(2, '0'))
    .join(':')

/** Whether the tests of the running suite feed the reconciler change events (set per suite). */
let FED = false

/**
 * A cluster tree built by hand: networks A (VNI 300) and B (VNI 301), nodes h1..h3. Fed: each
 * change goes into the view as the mirror puts it (viewApply) and to the change listeners.
 */
class World {
  private entries = new Map<string, unknown>()
  private listeners = new Set<(c: ViewChange) => void>()
  readonly fed = FED
  view: ClusterView = clusterView([])
  readonly changes = (fn: (c: ViewChange) => void) => {
    this.listeners.add(fn)
    return () => void this.listeners.delete(fn)
  }

  constructor() {
    this.node('h1', '198.18.0.1').node('h2', '198.18.0.2').node('h3', '198.18.0.3')
    this.network('a', 300, '10.0.1').network('b', 301, '10.0.2')
  }

  node(name: string, advertise: string): this {
    return this.set(keys.node(name), {
      name,
      advertise,
      datapath: 'bpf',
      version: '0',
      started: 'x',
    })
  }

  network(c: string, vni: number, prefix: string): this {
    return this.set(keys.network(id(c)), {
      id: id(c),
      name: `net-${c}`,
      driver: 'overlay',
      scope: 'global',
      vni,
      subnet: `${prefix}.0/24`,
      gateway: `${prefix}.1`,
      mtu: 1450,
      labels: {},
      options: {},
      created: 'x',
    })
  }

  /** An endpoint `c` of network `net` on `node` with address `ip`. */
  endpoint(c: string, net: string, node: string, ip: string): this {
    return this.set(keys.endpoint(id(net), id(c)), {
      id: id(c),
      networkId: id(net),
      name: `sb${c}`,
      ip,
      mac: mac(ip),
      node,
      sandbox: `sb${c}`,
      ifname: 'eth0',
      external: false,
      created: 'x',
    })
  }

  remove(key: string): this {
    this.entries.delete(key)
    return this.refresh(key)
  }

  removeEndpoint(c: string, net: string): this {
    return this.remove(keys.endpoint(id(net), id(c)))
  }

  private set(key: string, v: unknown): this {
    this.entries.set(key, v)
    return this.refresh(key)
  }

  private refresh(key: string): this {
    if (!this.fed) {
      this.view = clusterView(
        [...this.entries].map(([key, v]) => ({ key, value: JSON.stringify(v) })),
      )
      return this
    }
    const value = this.entries.get(key)
    const put = value === undefined ? [] : [{ key, value: JSON.stringify(value) }]
    const deleted = value === undefined ? [key] : []
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

function setup(extra: Partial<ReconcilerDeps> = {}) {
  const world = new World()
  const dp = new FakeDatapath()
  let clock = 1_000_000
  const attached: string[] = []
  const detached: string[] = []
  const r = new Reconciler({
    datapath: dp,
    node: ME,
    view: () => world.view,
    ...(world.fed && { changes: world.changes }),
    retryBaseMs: 1000,
    now: () => clock,
    onAttached: (spec, res) =>
      void attached.push(`${spec.hostIfname} ${'error' in res ? 'error' : 'ok'}`),
    onDetached: (h) => void detached.push(h),
    ...extra,
  })
  running.push(r)
  const pass = async () => {
    dp.clearCalls()
    await r.settled()
    return dp.log()
  }
  return { world, dp, r, pass, attached, detached, tick: (ms: number) => (clock += ms) }
}

/** The index of the first call matching `prefix` in `log` (fails when absent). */
const at = (log: string[], prefix: string) => {
  const i = log.findIndex((l) => l.startsWith(prefix))
  if (i < 0) throw new Error(`no call "${prefix}" in:\n  ${log.join('\n  ')}`)
  return i
}

for (const fed of [false, true])
  describe(fed ? 'views fed by change events' : 'views rebuilt', () => {
    beforeEach(() => {
      FED = fed
    })

    describe('Reconciler pass order', () => {
      test("a network's remote endpoints and members are programmed before a new local endpoint is attached", async () => {
        const { world, pass } = setup()
        world.endpoint('2', 'a', 'h2', '10.0.1.3').endpoint('1', 'a', ME, '10.0.1.2')
        const log = await pass()
        expect(at(log, 'upsertNetwork 300')).toBeLessThan(
          at(log, 'upsertRemoteEndpoint 300/10.0.1.3'),
        )
        expect(at(log, 'upsertRemoteEndpoint 300/10.0.1.3')).toBeLessThan(at(log, 'setMembers 300'))
        expect(at(log, 'setMembers 300')).toBeLessThan(at(log, `attachEndpoint ${ifn('1')}`))
      })

      test('an address moving from a local endpoint to another host is detached before it is declared remote', async () => {
        const { world, pass } = setup()
        world.endpoint('1', 'a', ME, '10.0.1.2').endpoint('8', 'a', ME, '10.0.1.8')
        await pass()
        world.removeEndpoint('1', 'a').endpoint('3', 'a', 'h2', '10.0.1.2')
        const log = await pass()
        expect(at(log, `detachEndpoint ${ifn('1')}`)).toBeLessThan(
          at(log, 'upsertRemoteEndpoint 300/10.0.1.2'),
        )
      })

      test('a network is removed last, after its endpoints are detached', async () => {
        const { world, dp, pass } = setup()
        world.endpoint('1', 'a', ME, '10.0.1.2').endpoint('5', 'a', 'h2', '10.0.1.3')
        await pass()
        world.removeEndpoint('1', 'a').endpoint('4', 'b', ME, '10.0.2.2')
        const log = await pass()
        expect(at(log, `detachEndpoint ${ifn('1')}`)).toBeLessThan(at(log, 'removeNetwork 300'))
        expect(log.at(-1)).toBe('removeNetwork 300')
        expect(dp.networks.has(300)).toBe(false)
        expect(await pass()).toEqual([])
      })
    })

    describe('Reconciler fingerprints', () => {
      test('nothing is re-applied when nothing changed: same view, an equal new view, or a resync of the kernel', async () => {
        const { world, dp, r, pass } = setup()
        world
          .endpoint('1', 'a', ME, '10.0.1.2')
          .endpoint('2', 'a', 'h2', '10.0.1.3')
          .endpoint('3', 'b', ME, '10.0.2.2')
        expect((await pass()).length).toBeGreaterThan(0)
        expect(await pass()).toEqual([])
        world.node('h3', '198.18.0.3') // the same content: a new view object
        expect(await pass()).toEqual([])
        dp.clearCalls()
        r.resync()
        await r.settled()
        expect(dp.calls.map((c) => c.method)).toEqual(['actual'])
      })

      test('a change re-applies only the items it touches', async () => {
        const { world, pass } = setup()
        world
          .endpoint('1', 'a', ME, '10.0.1.2')
          .endpoint('2', 'a', 'h2', '10.0.1.3')
          .endpoint('3', 'b', ME, '10.0.2.2')
        await pass()
        world.node('h2', '198.18.0.22') // h2 moved its VTEP
        expect(await pass()).toEqual(['upsertRemoteEndpoint 300/10.0.1.3', 'setMembers 300'])
      })

      test('an item changed in the kernel behind our back is put back on a resync', async () => {
        const { world, dp, r, pass } = setup()
        world.endpoint('1', 'a', ME, '10.0.1.2').endpoint('2', 'a', 'h2', '10.0.1.3')
        await pass()
        dp.remote.delete('300/10.0.1.3')
        r.resync()
        expect(await pass()).toEqual(['upsertRemoteEndpoint 300/10.0.1.3'])
      })
    })

    describe('Reconciler failure isolation: one failing item never stops the others', () => {
      test('network: the other network is programmed; the failing one is reported with its cause, and so are its endpoints', async () => {
        const { world, dp, r, pass, attached } = setup()
        world
          .endpoint('1', 'a', ME, '10.0.1.2')
          .endpoint('3', 'b', ME, '10.0.2.2')
          .endpoint('4', 'b', 'h2', '10.0.2.3')
        dp.failOn('upsertNetwork', '300', 'MTU 9000 of network 300 is out of range')
        const log = await pass()
        expect(log).toContain('upsertNetwork 301')
        expect(log).toContain(`attachEndpoint ${ifn('3')}`)
        expect(dp.remote.has('301/10.0.2.3')).toBe(true)
        expect(dp.members.get(301)).toEqual(['198.18.0.2'])
        expect(attached).toContain(`${ifn('3')} ok`)
        const f = r.failures()
        expect(f.find((x) => x.kind === 'network')).toMatchObject({
          kind: 'network',
          key: '300',
          vni: 300,
          op: 'upsert',
          attempts: 1,
          error: 'MTU 9000 of network 300 is out of range',
          subject: `network ${id('a').slice(0, 12)} (VNI 300)`,
        })
        expect(r.localError(ifn('1'))).toContain('network VNI 300 is failing too: MTU 9000')
        expect(r.failureTotals().network).toBe(1)
        // what needs the network fails with it (and says so): its local endpoint and its members
        expect(f.map((x) => `${x.kind} ${x.key}`)).toEqual([
          'network 300',
          `local-endpoint ${ifn('1')}`,
          'members 300',
        ])
        expect(r.stats.lastError).toMatch(
          /^3 items failing: network .* \(upsert\): MTU 9000.*; and 2 more$/,
        )
      })

      test('local endpoint (attach): the other endpoints are attached, remote endpoints programmed; the error is per endpoint', async () => {
        const { world, dp, r, pass, attached } = setup()
        world
          .endpoint('1', 'a', ME, '10.0.1.2')
          .endpoint('2', 'a', ME, '10.0.1.4')
          .endpoint('5', 'a', 'h2', '10.0.1.3')
        dp.failOn(
          'attachEndpoint',
          ifn('1'),
          'sandbox /run/netns/sb1 not found: create it with `ip netns add sb1`',
        )
        await pass()
        expect(dp.local.has(ifn('2'))).toBe(true)
        expect(dp.remote.has('300/10.0.1.3')).toBe(true)
        expect(r.isAttached(ifn('2'))).toBe(true)
        expect(r.isAttached(ifn('1'))).toBe(false)
        expect(r.localError(ifn('1'))).toMatch(/sandbox .* not found/)
        expect(attached.sort()).toEqual([`${ifn('1')} error`, `${ifn('2')} ok`])
        const [f] = r.failures()
        expect(f).toMatchObject({
          kind: 'local-endpoint',
          key: ifn('1'),
          op: 'attach',
          endpointId: id('1'),
          vni: 300,
        })
        expect(f!.subject).toBe(
          `endpoint ${id('1').slice(0, 12)} (${ifn('1')}, eth0 in sandbox sb1) in VNI 300`,
        )
        // a caller waiting for the failing endpoint is not left hanging
        await r.attachDone(ifn('1'))
      })

      test('local endpoint (detach): a failing detach leaves the others detached and attached', async () => {
        const { world, dp, r, pass } = setup()
        world.endpoint('1', 'a', ME, '10.0.1.2').endpoint('2', 'a', ME, '10.0.1.4')
        await pass()
        world.removeEndpoint('1', 'a').removeEndpoint('2', 'a').endpoint('6', 'a', ME, '10.0.1.6')
        dp.failOn('detachEndpoint', ifn('1'), 'RTNETLINK answers: Device or resource busy')
        const log = await pass()
        expect(log).toContain(`detachEndpoint ${ifn('2')}`)
        expect(dp.local.has(ifn('6'))).toBe(true)
        expect(r.failures()).toMatchObject([
          {
            kind: 'local-endpoint',
            key: ifn('1'),
            op: 'detach',
            error: 'RTNETLINK answers: Device or resource busy',
          },
        ])
      })

      test("local endpoint (the wedge): a deleted sandbox's veth is cleared at the next resync, and the host keeps programming", async () => {
        const { world, dp, r, pass } = setup()
        world.endpoint('1', 'a', ME, '10.0.1.2').endpoint('5', 'a', 'h2', '10.0.1.3')
        await pass()
        dp.vanish(ifn('1')) // `ip netns del sb1`
        world
          .removeEndpoint('1', 'a')
          .endpoint('2', 'a', ME, '10.0.1.2')
          .endpoint('7', 'a', 'h3', '10.0.1.7')
        r.resync()
        const log = await pass()
        // its state has no name any more: detached by address, before the address is reused
        expect(at(log, 'detachEndpoint 300/10.0.1.2')).toBeLessThan(
          at(log, `attachEndpoint ${ifn('2')}`),
        )
        expect(log).toContain('upsertRemoteEndpoint 300/10.0.1.7')
        expect(r.failures()).toEqual([])
        expect(r.stats.lastError).toBeNull()
        expect(r.isAttached(ifn('2'))).toBe(true)
      })

      test('local endpoint (the wedge, record still there): the gone endpoint fails alone; new connects and remote endpoints still work', async () => {
        const { world, dp, r, pass } = setup()
        world.endpoint('1', 'a', ME, '10.0.1.2')
        await pass()
        dp.vanish(ifn('1'))
        dp.failOn('attachEndpoint', ifn('1'), 'sandbox /run/netns/sb1 not found')
        world.endpoint('2', 'a', ME, '10.0.1.4').endpoint('7', 'a', 'h3', '10.0.1.7')
        r.resync()
        await pass()
        expect(r.isAttached(ifn('2'))).toBe(true)
        expect(dp.remote.has('300/10.0.1.7')).toBe(true)
        expect(r.failures()).toMatchObject([
          {
            kind: 'local-endpoint',
            key: ifn('1'),
            op: 'attach',
            error: 'sandbox /run/netns/sb1 not found',
          },
        ])
      })

      test('remote endpoint: the other remote endpoints, the members and the local attaches go on', async () => {
        const { world, dp, r, pass } = setup()
        world
          .endpoint('1', 'a', ME, '10.0.1.2')
          .endpoint('5', 'a', 'h2', '10.0.1.3')
          .endpoint('7', 'a', 'h3', '10.0.1.7')
        dp.failOn('upsertRemoteEndpoint', '300/10.0.1.3', 'map full')
        const log = await pass()
        expect(dp.remote.has('300/10.0.1.7')).toBe(true)
        expect(log).toContain('setMembers 300')
        expect(dp.local.has(ifn('1'))).toBe(true)
        expect(r.failures()).toMatchObject([
          {
            kind: 'remote-endpoint',
            key: '300/10.0.1.3',
            op: 'upsert',
            error: 'map full',
            subject: 'remote endpoint 10.0.1.3 in VNI 300 via VTEP 198.18.0.2',
          },
        ])
        expect(r.failureTotals()['remote-endpoint']).toBe(1)
      })

      test('remote endpoint (remove): a failing removal leaves the rest of the pass done', async () => {
        const { world, dp, r, pass } = setup()
        world
          .endpoint('1', 'a', ME, '10.0.1.2')
          .endpoint('5', 'a', 'h2', '10.0.1.3')
          .endpoint('7', 'a', 'h3', '10.0.1.7')
        await pass()
        world.removeEndpoint('5', 'a').removeEndpoint('7', 'a').endpoint('2', 'a', ME, '10.0.1.4')
        dp.failOn('removeRemoteEndpoint', '300/10.0.1.3', 'EBUSY')
        await pass()
        expect(dp.remote.has('300/10.0.1.7')).toBe(false)
        expect(dp.local.has(ifn('2'))).toBe(true)
        expect(r.failures()).toMatchObject([
          { kind: 'remote-endpoint', key: '300/10.0.1.3', op: 'remove' },
        ])
      })

      test("members: another network's members, and this network's endpoints, are programmed", async () => {
        const { world, dp, r, pass } = setup()
        world.endpoint('1', 'a', ME, '10.0.1.2').endpoint('5', 'a', 'h2', '10.0.1.3')
        world.endpoint('3', 'b', ME, '10.0.2.2').endpoint('4', 'b', 'h3', '10.0.2.3')
        dp.failOn('setMembers', '300', 'EPERM')
        await pass()
        expect(dp.members.get(301)).toEqual(['198.18.0.3'])
        expect(dp.local.has(ifn('1'))).toBe(true)
        expect(dp.local.has(ifn('3'))).toBe(true)
        expect(dp.remote.has('300/10.0.1.3')).toBe(true)
        expect(r.failures()).toMatchObject([
          {
            kind: 'members',
            key: '300',
            op: 'set',
            error: 'EPERM',
            subject: 'members of VNI 300 (198.18.0.2)',
          },
        ])
      })

      test('a pass whose actual state cannot be read fails as a whole, releases waiting connects, and the next recovers', async () => {
        const { world, dp, r, pass } = setup()
        world.endpoint('1', 'a', ME, '10.0.1.2')
        dp.failOn('actual', undefined, 'bpf map read failed', 1)
        const waiting = r.attachDone(ifn('1'))
        await waiting
        expect(r.stats.lastError).toBe('bpf map read failed')
        await pass()
        expect(r.stats.lastError).toBeNull()
        expect(r.isAttached(ifn('1'))).toBe(true)
      })
    })

    describe('Reconciler retries', () => {
      test('a failed item is retried on a later pass once its backoff is over, then reported no more', async () => {
        const { world, dp, r, pass, tick } = setup()
        world.endpoint('1', 'a', ME, '10.0.1.2').endpoint('5', 'a', 'h2', '10.0.1.3')
        dp.failOn('upsertRemoteEndpoint', '300/10.0.1.3', 'map full', 1)
        await pass()
        expect(r.failures()).toHaveLength(1)
        // within the backoff (1 s): not tried again
        tick(500)
        expect(await pass()).not.toContain('upsertRemoteEndpoint 300/10.0.1.3')
        tick(600)
        expect(await pass()).toContain('upsertRemoteEndpoint 300/10.0.1.3')
        expect(dp.remote.has('300/10.0.1.3')).toBe(true)
        expect(r.failures()).toEqual([])
        expect(r.failureTotals()['remote-endpoint']).toBe(1)
      })

      test('the backoff doubles per failed attempt, and a changed spec is retried at once', async () => {
        const { world, dp, r, pass, tick } = setup()
        world.endpoint('1', 'a', ME, '10.0.1.2').endpoint('5', 'a', 'h2', '10.0.1.3')
        dp.failOn('upsertRemoteEndpoint', '300/10.0.1.3', 'map full')
        await pass()
        tick(1000)
        await pass()
        const f = r.failures()[0]!
        expect(f.attempts).toBe(2)
        expect(f.retryAt - f.lastAttempt).toBe(2000)
        expect(f.since).toBeLessThan(f.lastAttempt)
        world.node('h2', '198.18.0.22')
        expect(await pass()).toContain('upsertRemoteEndpoint 300/10.0.1.3')
        expect(r.failures()[0]!.attempts).toBe(3)
      })

      test('without any wakeup, a failed item is retried when its backoff ends (real clock)', async () => {
        const world = new World()
        const dp = new FakeDatapath()
        const r = new Reconciler({
          datapath: dp,
          node: ME,
          view: () => world.view,
          retryBaseMs: 20,
        })
        running.push(r)
        world.endpoint('1', 'a', ME, '10.0.1.2').endpoint('5', 'a', 'h2', '10.0.1.3')
        dp.failOn('upsertRemoteEndpoint', '300/10.0.1.3', 'map full', 2)
        await r.settled()
        expect(r.failures()).toHaveLength(1)
        await waitFor(() => r.failures().length === 0, {
          what: 'the failed remote endpoint to be retried',
          timeoutMs: 2000,
        })
        expect(dp.remote.has('300/10.0.1.3')).toBe(true)
      })

      test('a failing item that is no longer wanted is dropped from the failures, with its host-local fact', async () => {
        const { world, dp, r, pass, detached } = setup()
        world
          .endpoint('1', 'a', ME, '10.0.1.2')
          .endpoint('2', 'a', ME, '10.0.1.4')
          .endpoint('5', 'a', 'h2', '10.0.1.3')
        dp.failOn('attachEndpoint', ifn('1'), 'sandbox gone').failOn(
          'upsertRemoteEndpoint',
          '300/10.0.1.3',
          'map full',
        )
        await pass()
        expect(r.failures()).toHaveLength(2)
        world.removeEndpoint('1', 'a').removeEndpoint('5', 'a')
        await pass()
        expect(r.failures()).toEqual([])
        expect(detached).toEqual([ifn('1')])
      })
    })

    describe('Reconciler before the store has answered', () => {
      test('a live local endpoint the view does not know is kept until the store answered, then detached', async () => {
        let synced = false
        const { world, pass } = setup({ mayDetachUnknown: () => synced })
        world.endpoint('1', 'a', ME, '10.0.1.2')
        await pass()
        // the view from disk lacks the endpoint (its own write was in memory only when the agent died)
        world.removeEndpoint('1', 'a').endpoint('2', 'a', ME, '10.0.1.3')
        const before = await pass()
        expect(at(before, `attachEndpoint ${ifn('2')}`)).toBeGreaterThanOrEqual(0) // the pass did run
        expect(before.some((l) => l.startsWith(`detachEndpoint ${ifn('1')}`))).toBe(false)
        synced = true
        expect(at(await pass(), `detachEndpoint ${ifn('1')}`)).toBeGreaterThanOrEqual(0)
      })

      test('a network the view does not know is kept (with its endpoints) until the store answered, then removed', async () => {
        let synced = false
        const { world, pass } = setup({ mayDetachUnknown: () => synced })
        world.endpoint('1', 'a', ME, '10.0.1.2')
        await pass()
        // the view from disk predates the network (created moments before the last run stopped):
        // removing it would delete its endpoints' veths on a restart (seen in test/agent/teardown.test.ts)
        world.removeEndpoint('1', 'a').remove(keys.network(id('a')))
        const before = await pass()
        expect(before.filter((l) => /^(removeNetwork|detachEndpoint)/.test(l))).toEqual([])
        synced = true
        expect(at(await pass(), 'removeNetwork 300')).toBeGreaterThanOrEqual(0)
      })
    })

    describe('Reconciler cluster subnets', () => {
      /** The fake with the bpf datapath's way out: every subnet of the cluster, set as one list. */
      class SubnetsDatapath extends FakeDatapath {
        readonly subnetsSet: string[][] = []
        async setClusterSubnets(subnets: { vni: number; subnet: string }[]): Promise<void> {
          this.subnetsSet.push(subnets.map((s) => `${s.vni} ${s.subnet}`))
        }
      }

      test('set once, and again only when a network record changes them (not on endpoint changes)', async () => {
        const dp = new SubnetsDatapath()
        const { world, r } = setup({ datapath: dp })
        world.endpoint('1', 'a', ME, '10.0.1.2')
        await r.settled()
        expect(dp.subnetsSet).toEqual([['300 10.0.1.0/24', '301 10.0.2.0/24']])
        world.endpoint('2', 'a', 'h2', '10.0.1.3')
        await r.settled()
        world.endpoint('3', 'b', 'h3', '10.0.2.3')
        await r.settled()
        expect(dp.subnetsSet.length).toBe(1)
        world.network('c', 302, '10.0.3')
        await r.settled()
        expect(dp.subnetsSet.at(-1)).toEqual([
          '300 10.0.1.0/24',
          '301 10.0.2.0/24',
          '302 10.0.3.0/24',
        ])
        expect(dp.subnetsSet.length).toBe(2)
      })
    })
  })
