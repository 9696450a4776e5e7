// DockerBackend over the agent's real units without a kernel (the service rig: embedded KV
// server, cluster mirror, reconciler on a recording datapath): address reservations before
// endpoints, Docker-plumbed endpoint records, naming, release rules that never free an
// address someone else holds now, the reclaim of reservations no endpoint took, and removals
// that wait for the view to follow the store (after a restart).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { ROOT, keys, type NetworkRecord } from '../../src/cluster/index.ts'
import { clusterBackend } from '../../src/docker/cluster-backend.ts'
import type { DockerBackend } from '../../src/docker/backend.ts'
import { reservationKeys } from '../../src/docker/reservations.ts'
import { waitFor } from '../harness/wait.ts'
import { observeWrites } from '../../src/store/index.ts'
import { startServiceRig, type ServiceRig } from '../fakes/agent-service-rig.ts'

describe("clusterBackend (the Docker plugin's way into weft)", () => {
  let rig: ServiceRig
  let backend: DockerBackend
  let net: NetworkRecord
  /** What networkSynced answers (false: as after a restart, before the agent follows the store). */
  let synced = true
  const askedSynced: string[] = []

  beforeAll(async () => {
    rig = await startServiceRig({ node: 'n1' })
    const store = observeWrites(rig.store, (w) => rig.mirror.ownWrites(w))
    backend = clusterBackend({
      node: 'n1',
      ops: rig.ops,
      store,
      mirror: rig.mirror,
      reconciler: rig.reconciler,
      networkSynced: (id) => {
        askedSynced.push(id)
        return synced
      },
    })
    net = await backend.createNetwork({
      name: 'ov',
      subnet: '10.70.0.0/24',
      labels: {},
      options: {},
    })
  })
  afterAll(async () => {
    await rig.close()
  })

  const lease = async (ip: string) => (await rig.store.get(keys.ipam(net.id, ip)))?.value
  const reservation = async (ip: string) => {
    const row = await rig.store.get(reservationKeys.one('n1', net.id, ip))
    return row ? JSON.parse(row.value) : undefined
  }
  const dockerEndpoint = async (dockerEndpoint: string) => {
    const { ip, id } = await backend.allocateAddress(net.id)
    const rec = await backend.createEndpoint({
      networkId: net.id,
      id,
      ip,
      mac: '02:42:0a:46:00:0a',
      name: dockerEndpoint.slice(0, 12),
      dockerEndpoint,
    })
    return rec
  }

  test('addresses are reserved cluster-wide before any endpoint exists; a taken --ip is refused', async () => {
    const a = await backend.allocateAddress(net.id)
    const b = await backend.allocateAddress(net.id)
    expect([a.ip, b.ip]).toEqual(['10.70.0.2', '10.70.0.3'])
    expect(await lease(a.ip)).toBe(a.id)
    await expect(backend.allocateAddress(net.id, '10.70.0.2')).rejects.toThrow(/already in use/)
    await expect(backend.allocateAddress(net.id, '10.70.0.1')).rejects.toThrow(/gateway/)
    await backend.releaseAddress(net.id, b.ip, b.id)
    expect(await lease(b.ip)).toBeUndefined()
    await backend.releaseAddress(net.id, a.ip, 'f'.repeat(64)) // not its holder: nothing happens
    expect(await lease(a.ip)).toBe(a.id)
    await backend.releaseAddress(net.id, a.ip, a.id)
  })

  test('a Docker endpoint is written with plumbing "docker" and returns once the datapath made its pair', async () => {
    const { ip, id } = await backend.allocateAddress(net.id)
    const rec = await backend.createEndpoint({
      networkId: net.id,
      id,
      ip,
      mac: '02:42:0a:46:00:02',
      name: 'abc',
      dockerEndpoint: 'e'.repeat(64),
    })
    expect(rec).toMatchObject({
      id,
      ip,
      node: 'n1',
      plumbing: 'docker',
      dockerEndpoint: 'e'.repeat(64),
    })
    const attached = rig.datapath.callsOf('attachEndpoint') as { id: string; plumbing?: string }[]
    expect(attached.find((a) => a.id === id)?.plumbing).toBe('docker')
    expect(backend.dockerEndpoints().map((e) => e.id)).toEqual([id])
    await backend.renameEndpoint(net.id, id, 'bbox1', ['web'])
    const stored = JSON.parse((await rig.store.get(keys.endpoint(net.id, id)))!.value)
    expect([stored.name, stored.aliases]).toEqual(['bbox1', ['web']])
    // Docker owns it: weft's own disconnect refuses and changes nothing
    await expect(rig.ops.disconnect('ov', 'bbox1', 'n1')).rejects.toThrow(
      /docker network disconnect ov bbox1/,
    )
    expect(await rig.store.get(keys.endpoint(net.id, id))).toBeDefined()
    // an address that became an endpoint is freed with the endpoint, not by ReleaseAddress
    await backend.releaseAddress(net.id, ip, id)
    expect(await lease(ip)).toBe(id)
    await backend.removeEndpoint(net.id, id)
    expect(await lease(ip)).toBeUndefined()
    expect(await rig.store.get(keys.endpoint(net.id, id))).toBeUndefined()
    expect(backend.dockerEndpoints()).toEqual([])
  })

  test('an endpoint whose reservation is gone is refused and nothing is written', async () => {
    const { ip, id } = await backend.allocateAddress(net.id)
    await backend.releaseAddress(net.id, ip, id)
    await expect(
      backend.createEndpoint({
        networkId: net.id,
        id,
        ip,
        mac: '02:42:0a:46:00:09',
        name: 'x',
        dockerEndpoint: 'd'.repeat(64),
      }),
    ).rejects.toThrow(/not reserved/)
    expect(await rig.store.get(keys.endpoint(net.id, id))).toBeUndefined()
  })

  test('a reservation records its host and time; it goes when it becomes an endpoint or is released', async () => {
    const a = await backend.allocateAddress(net.id)
    expect(await reservation(a.ip)).toMatchObject({
      id: a.id,
      networkId: net.id,
      ip: a.ip,
      node: 'n1',
    })
    // a previous run's reservation is found by its record (ReleaseAddress after a restart)
    expect(await backend.reservationOf(net.id, a.ip)).toBe(a.id)
    await backend.releaseAddress(net.id, a.ip, a.id)
    expect(await reservation(a.ip)).toBeUndefined()
    expect(await backend.reservationOf(net.id, a.ip)).toBeUndefined()
    const rec = await dockerEndpoint('a'.repeat(64))
    expect(await reservation(rec.ip)).toBeUndefined()
    expect(await backend.reservationOf(net.id, rec.ip)).toBeUndefined() // an endpoint's now
    expect(await backend.reclaimReservations(0)).toEqual([])
    expect(await lease(rec.ip)).toBe(rec.id) // an endpoint's address is never reclaimed
    await backend.removeEndpoint(net.id, rec.id)
  })

  test('a reservation no endpoint took is reclaimed once older than the bound; a young one and one held by another are not freed', async () => {
    // what an agent killed between RequestAddress and CreateEndpoint left a minute ago
    const old = new Date(Date.now() - 60_000).toISOString()
    const orphan = {
      id: 'o'.repeat(64),
      networkId: net.id,
      ip: '10.70.0.77',
      node: 'n1',
      created: old,
    }
    const taken = {
      id: 't'.repeat(64),
      networkId: net.id,
      ip: '10.70.0.78',
      node: 'n1',
      created: old,
    }
    await rig.store.txn([
      { op: 'put', key: keys.ipam(net.id, orphan.ip), value: orphan.id },
      {
        op: 'put',
        key: reservationKeys.one('n1', net.id, orphan.ip),
        value: JSON.stringify(orphan),
      },
      // released and taken by someone else since: the record is stale, the address not ours
      { op: 'put', key: keys.ipam(net.id, taken.ip), value: 'x'.repeat(64) },
      { op: 'put', key: reservationKeys.one('n1', net.id, taken.ip), value: JSON.stringify(taken) },
    ])
    const young = await backend.allocateAddress(net.id)
    const reclaimed = await backend.reclaimReservations(30_000)
    expect(reclaimed.map((r) => r.ip)).toEqual([orphan.ip])
    expect(await lease(orphan.ip)).toBeUndefined()
    expect(await reservation(orphan.ip)).toBeUndefined()
    expect(await lease(taken.ip)).toBe('x'.repeat(64))
    expect(await reservation(taken.ip)).toBeUndefined()
    expect(await lease(young.ip)).toBe(young.id)
    expect(await reservation(young.ip)).toMatchObject({ id: young.id })
    // and the freed address is handed out again
    expect((await backend.allocateAddress(net.id, orphan.ip)).ip).toBe(orphan.ip)
  })

  test("a removal before the agent follows the store waits for it: the restart's re-announce cannot bring the endpoint and its address back", async () => {
    const rec = await dockerEndpoint('r'.repeat(64))
    // restarted: the view is the local mirror's until the agent registered and re-announced
    synced = false
    askedSynced.length = 0
    const removing = backend.removeEndpoint(net.id, rec.id)
    await waitFor(
      async () => askedSynced.length > 0 || !(await rig.store.get(keys.endpoint(net.id, rec.id))),
      { what: 'the removal to start' },
    )
    // registered: the agent writes back the endpoints of its view that the store lacks
    await rig.ops.reannounce([rec])
    synced = true
    await rig.store.txn([{ op: 'put', key: `${ROOT}test/poke`, value: '1' }]) // a view change
    await removing
    expect(await rig.store.get(keys.endpoint(net.id, rec.id))).toBeUndefined()
    expect(await lease(rec.ip)).toBeUndefined()
  })
})
