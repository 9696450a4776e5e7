// Drift repair on the kernel datapath (issue 12 item 3): a removed FDB or neighbour entry of a
// remote endpoint, and a deleted host veth, are put back within 10 s and counted by kind.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { requireRoot } from '../harness/index.ts'
import { createDriftRig, onHost, type DriftRig } from './rig.ts'

describe('drift on the kernel datapath is put back within 10 s', () => {
  let rig: DriftRig
  let vx: string
  let vtep: string
  beforeAll(async () => {
    requireRoot()
    rig = await createDriftRig('kernel', '10.92.0.0/24')
    vx = `wfvx${rig.network.vni}`
    vtep = rig.topo.hosts[1]!.underlay.ip
  }, 60_000)
  afterAll(async () => {
    await rig?.topo.destroy()
  }, 60_000)

  test("a removed remote endpoint's FDB entry is added again (kind fdb)", async () => {
    await rig.expectRepair(
      'fdb',
      async () => {
        await onHost(rig, ['bridge', 'fdb', 'del', rig.b.mac, 'dev', vx, 'dst', vtep, 'self'])
      },
      async () =>
        (await onHost(rig, ['bridge', 'fdb', 'show', 'dev', vx])).includes(
          `${rig.b.mac} dst ${vtep}`,
        ),
    )
  }, 30_000)

  test("a removed remote endpoint's neighbour entry is added again (kind neighbour)", async () => {
    await rig.expectRepair(
      'neighbour',
      async () => {
        await onHost(rig, ['ip', 'neigh', 'del', rig.b.ip, 'dev', vx])
      },
      async () =>
        (await onHost(rig, ['ip', 'neigh', 'show', 'dev', vx])).includes(
          `${rig.b.ip} lladdr ${rig.b.mac}`,
        ),
    )
  }, 30_000)

  test('a deleted host veth is re-created (kind veth)', async () => {
    await rig.expectRepair(
      'veth',
      async () => {
        await onHost(rig, ['ip', 'link', 'del', 'dev', rig.a.hostIfname])
      },
      async () =>
        (
          await onHost(rig, ['ip', '-o', 'link', 'show', 'master', `wfbr${rig.network.vni}`])
        ).includes(rig.a.hostIfname),
    )
  }, 30_000)

  test('every drift was logged by kind, and /healthz stays clean', async () => {
    const log = rig.agents[0]!.proc.stderr()
    for (const kind of ['fdb', 'neighbour', 'veth'])
      expect(log).toMatch(new RegExp(`"kind":"${kind}".*putting it back`))
    const health = await rig.agents[0]!.api('GET', '/healthz')
    expect(health.body.reconcile.lastError).toBeNull()
  })
})
