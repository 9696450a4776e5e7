// Drift guard unit tests against the recording fake datapath (no root): drift is seen when the
// actual state differs from what was programmed, left out of what the reconciler is told is
// held, and counted as repaired only once the call that puts it back succeeds. Plus the pure
// rtnetlink pieces: request encoding, notification decoding, which notifications mean drift.
import { describe, expect, test } from 'bun:test'
import type { ActualState, DatapathFault, LocalEndpointSpec } from '../../src/datapath/types.ts'
import {
  DriftGuard,
  FILTER_BACKSTOP_SHARES,
  isDriftEvent,
  isForeignFilter,
  RepairBook,
} from '../../src/drift/index.ts'
import { decodeEvent } from '../../src/drift/rtnl-decode.ts'
import { encodeRequest, RTM, splitMessages } from '../../src/drift/rtnl.ts'
import { FakeDatapath } from '../fakes/datapath.ts'
import { clusterView, keys } from '../../src/cluster/index.ts'
import { Reconciler } from '../../src/reconcile/index.ts'

const NET = { id: 'a'.repeat(64), vni: 300, subnet: '10.0.1.0/24', gateway: '10.0.1.1', mtu: 1450 }
const REMOTE = { vni: 300, ip: '10.0.1.9', mac: '02:42:0a:00:01:09', vtep: '198.18.0.2' }

/** The kernel datapath's checks only: no tc filter read for a veth the fake never made. */
class KernelFake extends FakeDatapath {
  override readonly kind = 'kernel' as unknown as 'bpf'
}

async function programmed() {
  const fake = new FakeDatapath()
  const repairs = new RepairBook()
  const guard = new DriftGuard(fake, { repairs, advertise: '198.18.0.1' })
  await guard.upsertNetwork(NET)
  await guard.upsertRemoteEndpoint(REMOTE)
  await guard.setMembers(300, ['198.18.0.1', '198.18.0.2'])
  return { fake, repairs, guard }
}

describe('drift guard', () => {
  test('nothing is drift while the kernel holds what was programmed', async () => {
    const { guard, repairs } = await programmed()
    await guard.actual()
    expect(guard.unrepaired()).toEqual([])
    expect(repairs.totalsByKind()['map-entry']).toBe(0)
  })

  test('an altered remote entry is seen, and counted once its upsert succeeds', async () => {
    const { fake, guard, repairs } = await programmed()
    fake.remote.set('300/10.0.1.9', { ...REMOTE, vtep: '198.18.0.99' })
    await guard.actual()
    expect(guard.unrepaired()).toMatchObject([
      { kind: 'map-entry', detail: expect.stringContaining('was altered') },
    ])
    expect(repairs.totalsByKind()['map-entry']).toBe(0)
    await guard.actual() // seen again: still one drift, not two
    expect(guard.unrepaired()).toHaveLength(1)
    fake.failOn('upsertRemoteEndpoint', undefined, 'boom', 1)
    await expect(guard.upsertRemoteEndpoint(REMOTE)).rejects.toThrow('boom')
    expect(repairs.totalsByKind()['map-entry']).toBe(0)
    await guard.upsertRemoteEndpoint(REMOTE)
    expect(repairs.totalsByKind()['map-entry']).toBe(1)
    expect(repairs.last()[0]).toMatchObject({
      kind: 'map-entry',
      detail: expect.stringContaining('10.0.1.9'),
    })
    expect(guard.unrepaired()).toEqual([])
  })

  test('a remote endpoint removed, or its network removed, is no longer expected (nor its drift kept)', async () => {
    const { fake, guard } = await programmed()
    const other = { ...REMOTE, ip: '10.0.1.10', mac: '02:42:0a:00:01:0a' }
    await guard.upsertRemoteEndpoint(other)
    await guard.removeRemoteEndpoint(REMOTE)
    await guard.actual()
    expect(guard.unrepaired()).toEqual([])
    // the other one is still expected: deleted behind the guard's back, it is drift
    fake.remote.delete('300/10.0.1.10')
    await guard.actual()
    expect(guard.unrepaired()).toMatchObject([{ detail: expect.stringContaining('10.0.1.10') }])
    await guard.removeNetwork(300)
    expect(guard.unrepaired()).toEqual([])
    await guard.actual()
    expect(guard.unrepaired()).toEqual([])
  })

  test('changed member VTEPs are drift; our own VTEP is never expected among them', async () => {
    const { fake, guard, repairs } = await programmed()
    fake.members.set(300, [])
    await guard.actual()
    expect(guard.unrepaired()).toMatchObject([
      { kind: 'map-entry', detail: expect.stringContaining('member VTEPs of VNI 300') },
    ])
    await guard.setMembers(300, ['198.18.0.1', '198.18.0.2'])
    expect(repairs.totalsByKind()['map-entry']).toBe(1)
  })

  test('an altered network entry is left out of the actual state (so it is upserted again)', async () => {
    const repairs = new RepairBook()
    const altered = new (class extends FakeDatapath {
      override async actual(): Promise<ActualState> {
        const a = await super.actual()
        return {
          ...a,
          networks: a.networks.map((n) => ({
            ...n,
            subnet: '10.0.1.0/24',
            gateway: '10.0.1.1',
            mtu: 600,
          })),
        }
      }
    })()
    const guard = new DriftGuard(altered, { repairs, advertise: '198.18.0.1' })
    await guard.upsertNetwork(NET)
    const a = await guard.actual()
    expect(a.networks).toEqual([])
    expect(guard.unrepaired()).toMatchObject([
      { kind: 'map-entry', detail: expect.stringContaining('network VNI 300') },
    ])
    await guard.upsertNetwork(NET)
    expect(repairs.totalsByKind()['map-entry']).toBe(1)
  })

  test('a base fault is put back through start() at once and counted by its kind', async () => {
    let faults: DatapathFault[] = [{ part: 'gro', detail: 'the GRO device wfgro is missing' }]
    const fake = new (class extends FakeDatapath {
      override async actual(): Promise<ActualState> {
        return { ...(await super.actual()), faults }
      }
      override async start(): Promise<void> {
        faults = []
      }
    })()
    const repairs = new RepairBook()
    const guard = new DriftGuard(fake, { repairs, advertise: '198.18.0.1' })
    await guard.actual()
    expect(repairs.totalsByKind().gro).toBe(1)
    expect(guard.unrepaired()).toEqual([])
  })

  test('a fault start() cannot fix stays unrepaired and uncounted', async () => {
    const fake = new (class extends FakeDatapath {
      override async actual(): Promise<ActualState> {
        return {
          ...(await super.actual()),
          faults: [{ part: 'pin', detail: 'map pin /x is missing' }],
        }
      }
      override async start(): Promise<void> {
        throw new Error('bpffs is read-only')
      }
    })()
    const repairs = new RepairBook()
    const warnings: string[] = []
    const guard = new DriftGuard(fake, {
      repairs,
      advertise: '198.18.0.1',
      log: { info: () => {}, warn: (_o, m) => warnings.push(m ?? '') },
    })
    await guard.actual()
    expect(repairs.totalsByKind().pin).toBe(0)
    expect(guard.unrepaired()).toMatchObject([{ kind: 'pin' }])
    expect(warnings.join('\n')).toContain('putting back the datapath base failed')
  })
})

describe('drift guard: the periodic check on its own (no reconciler pass unless something differs)', () => {
  const asked = (guard: DriftGuard) => {
    const n = { asks: 0 }
    guard.askCompare = () => n.asks++
    return n
  }

  test('at rest it asks for nothing; after mutations it asks without comparing', async () => {
    const { guard } = await programmed()
    const n = asked(guard)
    expect(await guard.check()).toBe('mutations since the last check')
    expect(n.asks).toBe(1)
    n.asks = 0
    expect(await guard.check()).toBe('')
    expect(await guard.check()).toBe('')
    expect(n.asks).toBe(0)
    expect(guard.lastCheck.reason).toBe('')
  })

  test('drift is recorded and a pass asked for, each time until it is put back', async () => {
    const { fake, guard, repairs } = await programmed()
    await guard.check() // the mutations of programmed()
    const n = asked(guard)
    fake.remote.set('300/10.0.1.9', { ...REMOTE, vtep: '198.18.0.99' })
    expect(await guard.check()).toContain('drift not yet put back')
    expect(guard.unrepaired()).toMatchObject([{ kind: 'map-entry' }])
    expect(await guard.check()).toContain('drift not yet put back')
    expect(n.asks).toBe(2)
    await guard.upsertRemoteEndpoint(REMOTE)
    expect(repairs.totalsByKind()['map-entry']).toBe(1)
    expect(await guard.check()).toBe('mutations since the last check')
    expect(await guard.check()).toBe('')
    expect(n.asks).toBe(3)
  })

  test('what the kernel holds and was never programmed here asks for a pass (it removes it)', async () => {
    const { fake, guard } = await programmed()
    await guard.check() // the mutations of programmed()
    const n = asked(guard)
    fake.remote.set('300/10.0.1.77', { ...REMOTE, ip: '10.0.1.77' })
    expect(await guard.check()).toContain('remote endpoint 10.0.1.77 in VNI 300, not programmed')
    expect(n.asks).toBe(1)
    expect(guard.unrepaired()).toEqual([])
  })

  test('a mutation overlapping the check: nothing it saw is recorded, a pass is asked for', async () => {
    let release = () => {}
    let reading: () => void = () => {}
    const gate = new Promise<void>((r) => (release = r))
    const entered = new Promise<void>((r) => (reading = r))
    class SlowFake extends FakeDatapath {
      slow = false
      override async actual(): Promise<ActualState> {
        const a = await super.actual()
        if (this.slow) (reading(), await gate)
        return a
      }
    }
    const fake = new SlowFake()
    const guard = new DriftGuard(fake, { repairs: new RepairBook(), advertise: '198.18.0.1' })
    await guard.upsertNetwork(NET)
    await guard.upsertRemoteEndpoint(REMOTE)
    await guard.check() // the mutations above
    const n = asked(guard)
    // the kernel read sees the remote half-way through its removal
    fake.remote.delete('300/10.0.1.9')
    fake.slow = true
    const check = guard.check()
    await entered
    const removal = guard.removeRemoteEndpoint(REMOTE)
    release()
    expect(await check).toBe('a mutation overlapped the comparison')
    await removal
    expect(guard.unrepaired()).toEqual([])
    expect(n.asks).toBe(1)
    fake.slow = false
    expect(await guard.check()).toBe('mutations since the last check')
    expect(await guard.check()).toBe('')
  })

  test("the reconciler's comparisons wait for the check's (one at a time)", async () => {
    const { guard } = await programmed()
    const order: string[] = []
    await Promise.all([
      guard.check().then(() => order.push('check')),
      guard.actual().then(() => order.push('actual')),
    ])
    expect(order).toEqual(['check', 'actual'])
  })
})

describe('drift guard: what the datapath can do stays visible', () => {
  test('setClusterSubnets is there exactly when the inner datapath has it, and reaches it', async () => {
    const seen: unknown[] = []
    const withWayOut = new (class extends FakeDatapath {
      async setClusterSubnets(subnets: { vni: number; subnet: string }[]): Promise<void> {
        seen.push(subnets)
      }
    })()
    const guard = new DriftGuard(withWayOut, { repairs: new RepairBook(), advertise: '198.18.0.1' })
    expect(typeof guard.setClusterSubnets).toBe('function')
    await guard.setClusterSubnets!([{ vni: 300, subnet: '10.0.1.0/24' }] as never)
    expect(seen).toHaveLength(1)
    expect(
      new DriftGuard(new FakeDatapath(), { repairs: new RepairBook(), advertise: '198.18.0.1' })
        .setClusterSubnets,
    ).toBeUndefined()
  })
})

describe('drift guard: endpoint filters', () => {
  // the fake's veths exist nowhere, so every veth whose filters are dumped is tc-filter drift
  const eps = Array.from({ length: 24 }, (_, i) => ({
    id: i.toString(16).padStart(64, '0'),
    vni: 300,
    ip: `10.0.1.${10 + i}`,
    mac: `02:42:0a:00:01:${(10 + i).toString(16)}`,
    sandbox: '',
    ifname: '',
    hostIfname: `wf${i.toString(16).padStart(10, '0')}`,
    plumbing: 'docker' as const,
  }))
  const dumped = (guard: DriftGuard) =>
    new Set(
      guard
        .unrepaired()
        .filter((f) => f.kind === 'tc-filter')
        .map((f) => f.detail),
    )
  const reattachAll = async (guard: DriftGuard) => {
    for (const e of eps) await guard.attachEndpoint(e)
  }

  test('every veth at the first comparison, then a rotating share, and the ones named at once', async () => {
    const fake = new FakeDatapath()
    const guard = new DriftGuard(fake, { repairs: new RepairBook(), advertise: '198.18.0.1' })
    await guard.upsertNetwork(NET)
    await reattachAll(guard)
    await guard.actual()
    expect(dumped(guard).size).toBe(eps.length)
    const seen = new Map<string, number>()
    for (let i = 0; i < FILTER_BACKSTOP_SHARES; i++) {
      await reattachAll(guard)
      await guard.actual()
      const d = dumped(guard)
      expect(d.size).toBeLessThan(eps.length)
      for (const x of d) seen.set(x, (seen.get(x) ?? 0) + 1)
    }
    // each veth once in FILTER_BACKSTOP_SHARES comparisons
    expect(seen.size).toBe(eps.length)
    expect([...seen.values()].every((n) => n === 1)).toBe(true)
    // drift found stays checked until its attach puts it back
    const before = dumped(guard)
    await guard.actual()
    for (const x of before) expect(dumped(guard).has(x)).toBe(true)
    // a veth the listener names is dumped at the next comparison, whatever its share
    await reattachAll(guard)
    const named = eps[0]!
    const { ifindex } = (await fake.actual()).localEndpoints.find(
      (e) => e.hostIfname === named.hostIfname,
    )!
    for (let i = 0; i < FILTER_BACKSTOP_SHARES; i++) {
      guard.hintFilter(ifindex)
      await guard.actual()
      expect([...dumped(guard)].some((d) => d.includes(named.hostIfname))).toBe(true)
      await reattachAll(guard)
    }
    guard.hintFilter()
    await guard.actual()
    expect(dumped(guard).size).toBe(eps.length)
  })
})

describe('drift guard and sandboxes it does not own', () => {
  const ep = (o: Partial<LocalEndpointSpec>): LocalEndpointSpec => ({
    id: 'c'.repeat(64),
    vni: 300,
    ip: '10.0.1.5',
    mac: '02:42:0a:00:01:05',
    sandbox: '',
    ifname: '',
    hostIfname: 'wfcccccccccc',
    ...o,
  })

  test("a Docker-plumbed endpoint (no sandbox of weft's) is compared without reading a sandbox", async () => {
    const guard = new DriftGuard(new KernelFake(), {
      repairs: new RepairBook(),
      advertise: '198.18.0.1',
    })
    await guard.upsertNetwork(NET)
    await guard.attachEndpoint(ep({ plumbing: 'docker' }))
    expect(guard.sandboxPaths()).toEqual([])
    await guard.actual() // reading every sandbox end is due: must not trip over ''
    expect(guard.unrepaired()).toEqual([])
  })

  test('an endpoint whose sandbox is gone is not drift (it is released, not repaired)', async () => {
    const fake = new KernelFake()
    const guard = new DriftGuard(fake, { repairs: new RepairBook(), advertise: '198.18.0.1' })
    await guard.upsertNetwork(NET)
    await guard.attachEndpoint(ep({ sandbox: '/nonexistent/netns/x', ifname: 'eth0' }))
    fake.local.clear()
    await guard.actual()
    expect(guard.unrepaired()).toEqual([])
  })
})

describe('rtnetlink pieces (pure)', () => {
  test("a new filter on weft's veth is drift when it is a BPF program other than the endpoint's", () => {
    const nameOf = (i: number) => (i === 9 ? 'wfabc' : 'eth7')
    const added = (ifindex: number, bpfName?: string, kind = 'bpf') =>
      ({ what: 'filter', deleted: false, ifindex, parent: 0xfffffff2, kind, bpfName }) as const
    expect(isForeignFilter(added(9, 'count.o:[tc]'), nameOf)).toBe(true)
    expect(isForeignFilter(added(9), nameOf)).toBe(true)
    expect(isForeignFilter(added(9, 'vx_from_ep:[41]'), nameOf)).toBe(false)
    expect(isForeignFilter(added(9, 'vx_from_ep'), nameOf)).toBe(false)
    expect(isForeignFilter(added(8, 'count.o:[tc]'), nameOf)).toBe(false)
    expect(isForeignFilter(added(9, undefined, 'u32'), nameOf)).toBe(false)
    expect(isForeignFilter({ ...added(9, 'count.o:[tc]'), deleted: true }, nameOf)).toBe(false)
  })

  const delLink = (ifindex: number, name: string) => {
    const fixed = new Uint8Array(16)
    new DataView(fixed.buffer).setInt32(4, ifindex, true)
    return encodeRequest(RTM.DELLINK, 0, 7, fixed, [[3, new TextEncoder().encode(name + '\0')]])
  }

  test('a message encoded is split and decoded back', () => {
    const [m] = splitMessages(delLink(42, 'wf0123456789'))
    expect(m).toMatchObject({ type: RTM.DELLINK, seq: 7 })
    expect(decodeEvent(m!)).toEqual({
      what: 'link',
      deleted: true,
      ifindex: 42,
      ifname: 'wf0123456789',
      up: false,
    })
  })

  test("deletions of weft's links, the underlay's and tc objects on weft's veths mean drift; others do not", () => {
    const ev = (name: string, ifindex = 5) =>
      decodeEvent(splitMessages(delLink(ifindex, name))[0]!)!
    const nameOf = (i: number) => (i === 9 ? 'wfabc' : 'eth7')
    expect(isDriftEvent(ev('wf0123456789'), nameOf)).toBe(true)
    expect(isDriftEvent(ev('eth0', 3), nameOf, 3)).toBe(true)
    expect(isDriftEvent(ev('eth7'), nameOf, 3)).toBe(false)
    expect(isDriftEvent({ what: 'filter', deleted: true, ifindex: 9, parent: 0 }, nameOf)).toBe(
      true,
    )
    expect(isDriftEvent({ what: 'filter', deleted: true, ifindex: 8, parent: 0 }, nameOf)).toBe(
      false,
    )
    expect(isDriftEvent({ what: 'filter', deleted: false, ifindex: 9, parent: 0 }, nameOf)).toBe(
      false,
    )
    expect(isDriftEvent({ what: 'neighbour', deleted: true, ifindex: 9, fdb: true }, nameOf)).toBe(
      true,
    )
    expect(
      isDriftEvent(
        { what: 'neighbour', deleted: true, ifindex: 3, fdb: false, ip: '198.18.0.2' },
        nameOf,
        3,
      ),
    ).toBe(false)
  })
})

describe('drift guard after an agent restart', () => {
  const node = (name: string, advertise: string) => ({
    key: keys.node(name),
    value: JSON.stringify({ name, advertise, datapath: 'kernel', version: '0', started: 'x' }),
  })
  const endpoint = (c: string, on: string, ip: string) => ({
    key: keys.endpoint(NET.id, c.repeat(64)),
    value: JSON.stringify({
      id: c.repeat(64),
      networkId: NET.id,
      name: `sb${c}`,
      ip,
      mac: '02:42:0a:00:01:0' + c,
      node: on,
      sandbox: '',
      ifname: '',
      plumbing: 'docker',
      external: false,
      created: 'x',
    }),
  })
  const view = clusterView([
    node('h1', '198.18.0.1'),
    node('h2', '198.18.0.2'),
    {
      key: keys.network(NET.id),
      value: JSON.stringify({
        ...NET,
        name: 'net',
        driver: 'overlay',
        scope: 'global',
        labels: {},
        options: {},
        created: 'x',
      }),
    },
    endpoint('5', 'h1', '10.0.1.5'),
    endpoint('9', 'h2', '10.0.1.9'),
  ])

  test('what the kernel kept (remote entries, members) is learnt in the first pass: checks then ask for nothing', async () => {
    const kernel = new KernelFake()
    const life = async () => {
      const guard = new DriftGuard(kernel, { repairs: new RepairBook(), advertise: '198.18.0.1' })
      const r = new Reconciler({ datapath: guard, node: 'h1', view: () => view, retryBaseMs: 1000 })
      await r.settled()
      expect(guard.unrepaired()).toEqual([])
      expect(await guard.check()).toBe('mutations since the last check')
      const reason = await guard.check()
      await r.stop()
      return { reason, remote: kernel.remote.size }
    }
    expect(await life()).toEqual({ reason: '', remote: 1 })
    // the same kernel state, a new process: its guard knows nothing it did not program itself
    expect(await life()).toEqual({ reason: '', remote: 1 })
  })
})
