// The kernel datapath at 100 endpoints: attach time through the driver (as the agent does it),
// remote-endpoint programming time, and forwarding between the first and last endpoints.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTopology, mustRunIn, ping, waitFor, type Topology } from '../harness/index.ts'
import { startDriver, type DriverHandle } from './driver-client.ts'
import type { LocalEndpointSpec, NetworkSpec } from '../../src/datapath/types.ts'
import { hostIfnameFor, macFromIp } from '../../src/net/index.ts'

const N = 100

describe('kernel datapath with 100 endpoints', () => {
  let topo: Topology
  const drv: DriverHandle[] = []
  const net: NetworkSpec = {
    id: 'd'.repeat(64),
    vni: 8000,
    subnet: '10.0.8.0/24',
    gateway: '10.0.8.1',
    mtu: 1450,
  }
  const eps: (LocalEndpointSpec & { host: number })[] = []

  beforeAll(async () => {
    topo = await createTopology({ hosts: 2 })
    for (let h = 0; h < 2; h++) {
      const host = topo.hosts[h]!
      const d = startDriver(host.ns, 'kernel', host.node, host.underlay.ip)
      drv.push(d)
      topo.track(() => d.stop(2000))
      await d.call('start')
      await d.call('upsertNetwork', [net])
      await d.call('setMembers', [net.vni, [topo.hosts[1 - h]!.underlay.ip]])
    }
    for (let i = 0; i < N; i++) {
      const host = i < N - 1 ? 0 : 1 // 99 on host 1, the last on host 2
      const c = await topo.addContainer(host)
      const ip = `10.0.8.${i + 2}`
      const id = `e${(i + 1).toString(16).padStart(9, '0')}`.padEnd(64, '0')
      eps.push({
        host,
        id,
        vni: net.vni,
        ip,
        mac: macFromIp(ip),
        sandbox: c.ns,
        ifname: 'eth0',
        hostIfname: hostIfnameFor(id),
      })
    }
  }, 120_000)

  afterAll(async () => {
    for (const d of drv) await d.call('teardown').catch(() => {})
    await topo?.destroy()
  }, 120_000)

  test(`attaching ${N} endpoints one after another takes seconds`, async () => {
    const t0 = performance.now()
    for (const e of eps) await drv[e.host]!.call('attachEndpoint', [e])
    const ms = performance.now() - t0
    console.log(
      `[kernel] attached ${N} endpoints sequentially in ${ms.toFixed(0)} ms (${(ms / N).toFixed(1)} ms each)`,
    )
    expect(ms).toBeLessThan(10_000)
    const links = JSON.parse(
      (await mustRunIn(topo.hosts[0]!.ns, ['ip', '-j', 'link', 'show', 'master', 'wfbr8000']))
        .stdout,
    )
    expect(links.filter((l: { ifname: string }) => l.ifname.startsWith('wfe'))).toHaveLength(N - 1)
  }, 60_000)

  test(`programming ${N} remote endpoints takes seconds, and the first and last endpoints talk`, async () => {
    const t0 = performance.now()
    for (const e of eps.filter((x) => x.host === 0)) {
      await drv[1]!.call('upsertRemoteEndpoint', [
        { vni: net.vni, ip: e.ip, mac: e.mac, vtep: topo.hosts[0]!.underlay.ip },
      ])
    }
    const last = eps[N - 1]!
    await drv[0]!.call('upsertRemoteEndpoint', [
      { vni: net.vni, ip: last.ip, mac: last.mac, vtep: topo.hosts[1]!.underlay.ip },
    ])
    const ms = performance.now() - t0
    console.log(`[kernel] programmed ${N} remote endpoints in ${ms.toFixed(0)} ms`)
    expect(ms).toBeLessThan(10_000)
    const first = eps[0]!
    await waitFor(async () => (await ping(first.sandbox, last.ip, { count: 1 })).received === 1, {
      what: 'first -> last',
      timeoutMs: 10_000,
    })
    expect((await ping(last.sandbox, eps[N - 2]!.ip, { count: 2, intervalS: 0.05 })).received).toBe(
      2,
    )
    expect(
      (await ping(first.sandbox, eps[N - 2]!.ip, { count: 2, intervalS: 0.05 })).received,
    ).toBe(2)
  }, 60_000)

  test(`teardown of ${N} endpoints leaves nothing`, async () => {
    const t0 = performance.now()
    await drv[0]!.call('teardown')
    console.log(
      `[kernel] teardown of ${N - 1} endpoints + network in ${(performance.now() - t0).toFixed(0)} ms`,
    )
    const links = JSON.parse(
      (await mustRunIn(topo.hosts[0]!.ns, ['ip', '-j', 'link', 'show'])).stdout,
    )
    expect(
      links.map((l: { ifname: string }) => l.ifname).filter((n: string) => n.startsWith('wf')),
    ).toEqual([])
  }, 60_000)
})
