// The Docker plugin's pure parts and its protocol handlers over an in-memory backend and a
// stand-in Docker API (no root, no dockerd): option mapping, network matching, orphan rules,
// and what each refusal says. The real thing runs in test/docker/ (real dockerd and agents).
import { describe, expect, test } from 'bun:test'
import { waitFor } from '../harness/wait.ts'
import { newId, type EndpointRecord, type NetworkRecord } from '../../src/cluster/index.ts'
import { NotFoundError } from '../../src/errors/index.ts'
import { createLogger } from '../../src/log.ts'
import type { DockerBackend } from '../../src/docker/backend.ts'
import type { DockerEngine, DockerNetwork } from '../../src/docker/engine.ts'
import { orphanedEndpoints } from '../../src/docker/endpoint-reconcile.ts'
import { DockerHandlers } from '../../src/docker/handlers.ts'
import { matchNetwork } from '../../src/docker/network-sync.ts'
import {
  dockerCreateBody,
  newNetworkFromDocker,
  parseDriverOptions,
} from '../../src/docker/options.ts'
import { poolIdFor, subnetOfPoolId } from '../../src/docker/protocol.ts'

const net = (o: Partial<NetworkRecord> = {}): NetworkRecord => ({
  id: newId(),
  name: 'ov_net1',
  driver: 'overlay',
  scope: 'global',
  vni: 256,
  subnet: '10.50.0.0/24',
  gateway: '10.50.0.1',
  mtu: 1450,
  labels: {},
  options: {},
  created: new Date().toISOString(),
  ...o,
})

/** A backend holding networks and reservations in memory; writes are recorded. */
function memoryBackend(nets: NetworkRecord[], eps: EndpointRecord[] = []) {
  const leases = new Map<string, string>()
  const calls: string[] = []
  const backend: DockerBackend = {
    node: 'h1',
    networks: () => nets,
    network: (id) => nets.find((n) => n.id === id),
    networkByName: (name) => nets.find((n) => n.name === name),
    createNetwork: async (input) => {
      calls.push(`createNetwork ${input.name}`)
      const n = net({ ...input, id: newId(), gateway: input.gateway ?? '10.0.0.1' })
      nets.push(n)
      return n
    },
    removeNetwork: async (id) => void calls.push(`removeNetwork ${id.slice(0, 4)}`),
    allocateAddress: async (networkId, requested) => {
      const ip = requested ?? '10.50.0.2'
      const id = newId()
      leases.set(`${networkId}/${ip}`, id)
      calls.push(`allocate ${ip}`)
      return { ip, id }
    },
    releaseAddress: async (_n, ip) => void calls.push(`release ${ip}`),
    addressOwner: async (networkId, ip) => leases.get(`${networkId}/${ip}`),
    createEndpoint: async () => {
      throw new Error('not used')
    },
    reclaimReservations: async () => [],
    reservationOf: async () => undefined,
    renameEndpoint: async (_n, _id, name, aliases, netns) =>
      void calls.push(`rename ${name} [${aliases.join(',')}] ${netns ?? 'no netns'}`),
    removeEndpoint: async () => {},
    dockerEndpoints: () => eps,
    onChange: () => () => {},
  }
  return { backend, calls }
}

const noDocker = {
  network: async () => {
    throw new NotFoundError('docker: no such network')
  },
  removeNetwork: async () => {},
} as unknown as DockerEngine

const handlers = (nets: NetworkRecord[] = []) => {
  const m = memoryBackend(nets)
  return {
    h: new DockerHandlers({
      backend: m.backend,
      engine: noDocker,
      log: createLogger({ level: 'silent' }),
    }),
    calls: m.calls,
  }
}
const call = (h: DockerHandlers, method: string, body: unknown = {}) => h.handler(method)!(body)

describe('docker options', () => {
  test('--opt mtu and vxlanid_list become weft fields; others stay options', () => {
    expect(
      parseDriverOptions({
        'com.docker.network.driver.mtu': '1400',
        'com.docker.network.driver.overlay.vxlanid_list': '4242',
        a: 'b',
      }),
    ).toEqual({ mtu: 1400, vni: 4242, options: { a: 'b' } })
  })

  test('a VNI list or a non-number MTU is refused naming the option', () => {
    expect(() =>
      parseDriverOptions({ 'com.docker.network.driver.overlay.vxlanid_list': '256,257' }),
    ).toThrow(/exactly one VNI/)
    expect(() => parseDriverOptions({ 'com.docker.network.driver.mtu': 'big' })).toThrow(
      /com.docker.network.driver.mtu=big/,
    )
  })

  test('the body the agent posts to other hosts reads back as the same weft network', () => {
    const n = net({
      ipRange: '10.50.0.128/25',
      labels: { team: 'blue' },
      options: { x: 'y' },
      internal: true,
    })
    const body = dockerCreateBody(n)
    expect(body.Internal).toBe(true)
    expect(body.IPAM.Options['weft.network-id']).toBe(n.id)
    const back = newNetworkFromDocker({
      Id: 'd',
      Driver: 'weft',
      Name: body.Name,
      Internal: body.Internal,
      IPAM: body.IPAM,
      Options: body.Options,
      Labels: body.Labels,
    })
    expect(back).toEqual({
      name: n.name,
      subnet: n.subnet,
      gateway: n.gateway,
      ipRange: n.ipRange,
      mtu: n.mtu,
      vni: n.vni,
      labels: n.labels,
      options: n.options,
      internal: true,
    })
  })

  test('pool ids are the subnet, so every host gives the same one', () => {
    expect(subnetOfPoolId(poolIdFor('10.50.0.0/24'))).toBe('10.50.0.0/24')
    expect(subnetOfPoolId('LocalDefault/172.17.0.0/16')).toBeUndefined()
  })
})

describe('network matching and orphans', () => {
  const d = (o: Partial<DockerNetwork>): DockerNetwork => ({
    Id: 'x',
    Name: 'ov_net1',
    Driver: 'weft',
    IPAM: { Config: [{ Subnet: '10.50.0.0/24' }] },
    ...o,
  })

  test('a Docker network is its weft network by name and subnet, and by weft id when it carries one', () => {
    const n = net()
    expect(matchNetwork(d({}), [n])).toBe(n)
    expect(matchNetwork(d({ Options: { 'weft.network-id': n.id } }), [n])).toBe(n)
    // same name and subnet but another (re-created) weft network: stale
    expect(matchNetwork(d({ Options: { 'weft.network-id': newId() } }), [n])).toBeUndefined()
    expect(matchNetwork(d({ Name: 'other' }), [n])).toBeUndefined()
  })

  test('only records Docker no longer lists, not in flight and older than the grace time, are orphans', () => {
    const now = Date.now()
    const rec = (dockerEndpoint: string, ageMs: number): EndpointRecord => ({
      id: newId(),
      networkId: 'n',
      name: dockerEndpoint,
      ip: '10.50.0.2',
      mac: '02:42:0a:32:00:02',
      node: 'h1',
      external: false,
      created: new Date(now - ageMs).toISOString(),
      plumbing: 'docker',
      dockerEndpoint,
    })
    const recs = [
      rec('listed', 60_000),
      rec('gone', 60_000),
      rec('young', 1000),
      rec('flying', 60_000),
    ]
    expect(
      orphanedEndpoints(recs, new Set(['listed']), new Set(['flying']), now).map((r) => r.name),
    ).toEqual(['gone'])
  })
})

describe('plugin handlers', () => {
  test('Activate names both drivers; the network scope is local (Docker refuses global without swarm)', async () => {
    const { h } = handlers()
    expect(await call(h, 'Plugin.Activate')).toEqual({
      Implements: ['NetworkDriver', 'IpamDriver'],
    })
    expect(await call(h, 'NetworkDriver.GetCapabilities')).toEqual({
      Scope: 'local',
      ConnectivityScope: 'global',
    })
    expect(h.handler('NetworkDriver.NoSuchMethod')).toBeUndefined()
  })

  test('a network without --ipam-driver weft is refused with the fix in the message, and nothing is created', async () => {
    const { h, calls } = handlers()
    const r = call(h, 'NetworkDriver.CreateNetwork', {
      NetworkID: 'd1',
      Options: {},
      IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '172.17.0.0/16', Gateway: '172.17.0.1/16' }],
    })
    await expect(r).rejects.toThrow(/add --ipam-driver weft/)
    expect(calls).toEqual([])
  })

  test('RequestPool refuses IPv6 and a subnet overlapping a weft network; picks a free default subnet', async () => {
    const { h } = handlers([net({ subnet: '10.0.0.0/24' })])
    await expect(call(h, 'IpamDriver.RequestPool', { V6: true })).rejects.toThrow(/IPv4 only/)
    await expect(call(h, 'IpamDriver.RequestPool', { Pool: '10.0.0.128/25' })).rejects.toThrow(
      /overlaps weft network ov_net1/,
    )
    await expect(
      call(h, 'IpamDriver.RequestPool', { Pool: '10.9.0.0/24', SubPool: '10.8.0.0/25' }),
    ).rejects.toThrow(/not inside/)
    expect(await call(h, 'IpamDriver.RequestPool', {})).toEqual({
      PoolID: 'weft:10.0.1.0/24',
      Pool: '10.0.1.0/24',
      Data: {},
    })
  })

  test('the gateway request answers the weft network gateway; a container request reserves an address', async () => {
    const n = net()
    const { h, calls } = handlers([n])
    const gw = await call(h, 'IpamDriver.RequestAddress', {
      PoolID: poolIdFor(n.subnet),
      Options: { RequestAddressType: 'com.docker.network.gateway' },
    })
    expect(gw.Address).toBe('10.50.0.1/24')
    const a = await call(h, 'IpamDriver.RequestAddress', {
      PoolID: poolIdFor(n.subnet),
      Options: {},
    })
    expect(a.Address).toBe('10.50.0.2/24')
    expect(calls).toEqual(['allocate 10.50.0.2'])
    // releasing what this process reserved goes to weft; the gateway and unknown addresses do not
    await call(h, 'IpamDriver.ReleaseAddress', {
      PoolID: poolIdFor(n.subnet),
      Address: '10.50.0.1',
    })
    await call(h, 'IpamDriver.ReleaseAddress', {
      PoolID: poolIdFor(n.subnet),
      Address: '10.50.0.9',
    })
    await call(h, 'IpamDriver.ReleaseAddress', {
      PoolID: poolIdFor(n.subnet),
      Address: '10.50.0.2',
    })
    expect(calls).toEqual(['allocate 10.50.0.2', 'release 10.50.0.2'])
  })

  test('a Docker network the agent made for an existing weft network is accepted only with its subnet', async () => {
    const n = net()
    const { h, calls } = handlers([n])
    const v4 = [{ AddressSpace: 'weft', Pool: '10.51.0.0/24' }]
    await expect(
      call(h, 'NetworkDriver.CreateNetwork', {
        NetworkID: 'd2',
        Options: { 'com.docker.network.generic': { 'weft.network-id': n.id } },
        IPv4Data: v4,
      }),
    ).rejects.toThrow(/has subnet 10.50.0.0\/24, not 10.51.0.0\/24/)
    expect(
      await call(h, 'NetworkDriver.CreateNetwork', {
        NetworkID: 'd2',
        Options: { 'com.docker.network.generic': { 'weft.network-id': n.id } },
        IPv4Data: [{ ...v4[0], Pool: n.subnet }],
      }),
    ).toEqual({})
    expect(calls).toEqual([])
  })
})

describe('naming a joined container', () => {
  test("name, aliases and the container's netns are one write, made once the netns is known", async () => {
    const n = net()
    const ep: EndpointRecord = {
      id: newId(),
      networkId: n.id,
      name: 'e'.repeat(12),
      ip: '10.50.0.2',
      mac: '02:42:0a:32:00:02',
      node: 'h1',
      external: false,
      created: new Date().toISOString(),
      plumbing: 'docker',
      dockerEndpoint: 'e'.repeat(64),
    }
    const m = memoryBackend([n], [ep])
    let inspections = 0
    // a container whose netns is known only by its PID (dockerd in another mount namespace),
    // and which runs only at the third look (Join comes before the container starts)
    const docker = {
      network: async () => ({
        Id: 'd1',
        Name: 'ov_net1',
        Driver: 'weft',
        Containers: { c1: { EndpointID: ep.dockerEndpoint, Name: 'bbox1' } },
      }),
      container: async () => ({
        State: { Pid: ++inspections >= 3 ? process.pid : 0 },
        NetworkSettings: { Networks: { ov_net1: { Aliases: ['web', 'c1'] } } },
      }),
    } as unknown as DockerEngine
    const h = new DockerHandlers({
      backend: m.backend,
      engine: docker,
      log: createLogger({ level: 'silent' }),
    })
    await call(h, 'NetworkDriver.Join', {
      NetworkID: 'd1',
      EndpointID: ep.dockerEndpoint,
      SandboxKey: '/var/run/docker/netns/not-seen-here',
    })
    await waitFor(() => m.calls.some((c) => c.includes('/ns/net')), {
      what: 'the endpoint named with its netns',
    })
    expect(inspections).toBe(3)
    expect(m.calls).toEqual([`rename bbox1 [web] /proc/${process.pid}/ns/net`])
  })
})
