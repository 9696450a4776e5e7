// The kernel datapath's remote endpoints against the real kernel, where its in-memory tables
// (src/datapath/kernel/remote-table.ts) decide the clean-up: an address that moves to another
// MAC or VTEP leaves no stale FDB entry, a MAC two addresses share stays until the last goes,
// and entries added or removed behind the datapath's back are seen after actual().
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTopology, mustRunIn, type Topology } from '../harness/index.ts'
import { startDriver, type DriverHandle } from './driver-client.ts'

const VNI = 8100
const VX = `wfvx${VNI}`
const V1 = '198.51.100.1'
const V2 = '198.51.100.2'
const M1 = '02:42:0a:51:00:01'
const M2 = '02:42:0a:51:00:02'

describe('kernel datapath: remote endpoints when addresses move', () => {
  let topo: Topology
  let drv: DriverHandle

  beforeAll(async () => {
    topo = await createTopology({ hosts: 1 })
    const host = topo.hosts[0]!
    drv = startDriver(host.ns, 'kernel', host.node, host.underlay.ip)
    topo.track(() => drv.stop(2000))
    await drv.call('start')
    await drv.call('upsertNetwork', [
      { id: 'e'.repeat(64), vni: VNI, subnet: '10.81.0.0/24', gateway: '10.81.0.1', mtu: 1450 },
    ])
  }, 60_000)

  afterAll(async () => {
    await drv?.call('teardown')
    await topo?.destroy()
  }, 60_000)

  /** The vxlan device's own unicast FDB entries: MAC -> VTEPs. */
  async function fdb(): Promise<Record<string, string[]>> {
    const r = await mustRunIn(topo.hosts[0]!.ns, ['bridge', '-j', 'fdb', 'show', 'dev', VX])
    const out: Record<string, string[]> = {}
    for (const f of JSON.parse(r.stdout) as { mac: string; dst?: string; flags?: string[] }[]) {
      if (!f.dst || !f.flags?.includes('self') || f.mac === '00:00:00:00:00:00') continue
      ;(out[f.mac] ??= []).push(f.dst)
    }
    return out
  }
  async function neighs(): Promise<Record<string, string>> {
    const r = await mustRunIn(topo.hosts[0]!.ns, ['ip', '-j', 'neigh', 'show', 'dev', VX])
    return Object.fromEntries(
      (JSON.parse(r.stdout) as { dst: string; lladdr: string }[]).map((n) => [n.dst, n.lladdr]),
    )
  }

  test('an address that moves to another VTEP, then to another MAC, leaves one FDB entry', async () => {
    await drv.call('upsertRemoteEndpoint', [{ vni: VNI, ip: '10.81.0.2', mac: M1, vtep: V1 }])
    expect(await fdb()).toEqual({ [M1]: [V1] })
    await drv.call('upsertRemoteEndpoint', [{ vni: VNI, ip: '10.81.0.2', mac: M1, vtep: V2 }])
    expect(await fdb()).toEqual({ [M1]: [V2] })
    await drv.call('upsertRemoteEndpoint', [{ vni: VNI, ip: '10.81.0.2', mac: M2, vtep: V2 }])
    expect(await fdb()).toEqual({ [M2]: [V2] })
    expect(await neighs()).toEqual({ '10.81.0.2': M2 })
  })

  test('a MAC two addresses share stays until the last of them is removed', async () => {
    await drv.call('upsertRemoteEndpoint', [{ vni: VNI, ip: '10.81.0.3', mac: M2, vtep: V2 }])
    await drv.call('removeRemoteEndpoint', [{ vni: VNI, ip: '10.81.0.2' }])
    expect(await fdb()).toEqual({ [M2]: [V2] })
    await drv.call('removeRemoteEndpoint', [{ vni: VNI, ip: '10.81.0.3' }])
    expect(await fdb()).toEqual({})
    expect(await neighs()).toEqual({})
  })

  test('entries added behind the datapath are known after actual(): removing one removes its FDB entry', async () => {
    const ns = topo.hosts[0]!.ns
    await mustRunIn(ns, ['bridge', 'fdb', 'append', M1, 'dev', VX, 'dst', V1, 'self', 'permanent'])
    await mustRunIn(ns, [
      'ip',
      'neigh',
      'replace',
      '10.81.0.4',
      'lladdr',
      M1,
      'dev',
      VX,
      'nud',
      'permanent',
    ])
    const a = await drv.call<{ remoteEndpoints: unknown[] }>('actual')
    expect(a.remoteEndpoints).toEqual([{ vni: VNI, ip: '10.81.0.4', mac: M1, vtep: V1 }])
    await drv.call('removeRemoteEndpoint', [{ vni: VNI, ip: '10.81.0.4' }])
    expect(await fdb()).toEqual({})
    expect(await neighs()).toEqual({})
  })

  test('entries removed behind the datapath are written again by the next upsert', async () => {
    await drv.call('upsertRemoteEndpoint', [{ vni: VNI, ip: '10.81.0.5', mac: M1, vtep: V1 }])
    const ns = topo.hosts[0]!.ns
    await mustRunIn(ns, ['bridge', 'fdb', 'del', M1, 'dev', VX, 'self'])
    await mustRunIn(ns, ['ip', 'neigh', 'del', '10.81.0.5', 'dev', VX])
    await drv.call('upsertRemoteEndpoint', [{ vni: VNI, ip: '10.81.0.5', mac: M1, vtep: V1 }])
    expect(await fdb()).toEqual({ [M1]: [V1] })
    expect(await neighs()).toEqual({ '10.81.0.5': M1 })
  })
})
