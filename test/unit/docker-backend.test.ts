// DockerBackend over the agent's real units without a kernel (the service rig: embedded KV
// server, cluster mirror, reconciler on a recording datapath): address reservations before
// endpoints, Docker-plumbed endpoint records, naming, and release rules that never free an
// address someone else holds now.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { keys, type NetworkRecord } from '../../src/cluster/index.ts'
import { clusterBackend } from '../../src/docker/cluster-backend.ts'
import type { DockerBackend } from '../../src/docker/backend.ts'
import { observeWrites } from '../../src/store/index.ts'
import { startServiceRig, type ServiceRig } from '../fakes/agent-service-rig.ts'

describe("clusterBackend (the Docker plugin's way into weft)", () => {
  let rig: ServiceRig
  let backend: DockerBackend
  let net: NetworkRecord

  beforeAll(async () => {
    rig = await startServiceRig({ node: 'n1' })
    const store = observeWrites(rig.store, (w) => rig.mirror.ownWrites(w))
    backend = clusterBackend({
      node: 'n1',
      ops: rig.ops,
      store,
      mirror: rig.mirror,
      reconciler: rig.reconciler,
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
    await expect(rig.ops.disconnect('ov', 'bbox1', 'n1')).rejects.toThrow(/docker network disconnect ov bbox1/)
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
})
