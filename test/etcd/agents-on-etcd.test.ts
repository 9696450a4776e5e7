// Real agents (dist/weft) on a real three-member etcd cluster: three hosts on
// `--store etcd://A,B,C` create a network, connect a container each, ping across, see each
// other's nodes on leases, and a stopped agent's node goes with its lease.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import {
  createTopology,
  etcdLeaks,
  leaks,
  ping,
  startEtcdCluster,
  waitFor,
  type EtcdCluster,
  type Topology,
} from '../harness/index.ts'
import { startAgents, type RunningAgent } from '../agent/agents.ts'

describe('agents on a three-member etcd cluster', () => {
  let topo: Topology
  let etcd: EtcdCluster
  let agents: RunningAgent[]
  const ips = new Map<number, string>()
  const c = (h: number) => topo.hosts[h]!.containers[0]!.ns

  beforeAll(async () => {
    topo = await createTopology({ hosts: 3, containersPerHost: 1 })
    etcd = await startEtcdCluster(topo, 3)
    agents = await startAgents(topo, { store: etcd.storeUrl, ttl: '2s' })
  }, 90_000)

  afterAll(async () => {
    const prefix = topo.prefix
    await topo.destroy()
    expect(await leaks(prefix)).toEqual([])
    expect(await etcdLeaks(etcd)).toEqual([])
  }, 60_000)

  test('every node is registered on the store, its record held by a lease', async () => {
    const nodes = await agents[1]!.api('GET', '/v1/nodes')
    expect(nodes.status).toBe(200)
    expect(
      nodes.body
        .filter((n: { alive: boolean }) => n.alive)
        .map((n: { name: string }) => n.name)
        .sort(),
    ).toEqual(topo.hosts.map((h) => h.node).sort())
    const raw = await etcd.call(etcd.members[0]!, '/v3/kv/range', {
      key: Buffer.from(`weft/v1/nodes/${topo.hosts[0]!.node}`).toString('base64'),
    })
    expect(raw.kvs?.[0]?.lease).toBeDefined()
    expect(raw.kvs[0].lease).not.toBe('0')
  })

  test('a network created on host 1 is listed on hosts 2 and 3; containers on all three ping each other', async () => {
    const r = await agents[0]!.api('POST', '/v1/networks', { name: 'blue', subnet: '10.30.0.0/24' })
    expect(r.status).toBe(201)
    for (const a of agents.slice(1)) {
      await waitFor(
        async () =>
          (await a.api('GET', '/v1/networks')).body.some?.(
            (n: { Name: string }) => n.Name === 'blue',
          ),
        { what: `blue listed on ${a.node}` },
      )
    }
    // the record is in etcd under the same key layout as on Consul
    expect(await etcd.get(etcd.members[2]!, `weft/v1/names/blue`)).toBe(r.body.Id)
    for (let h = 0; h < 3; h++) {
      const e = await agents[h]!.api('POST', '/v1/networks/blue/connect', { sandbox: c(h) })
      expect(e.status).toBe(201)
      expect(e.body.status).toBe('attached')
      ips.set(h, e.body.ip)
    }
    expect(new Set(ips.values()).size).toBe(3)
    for (let from = 0; from < 3; from++) {
      for (let to = 0; to < 3; to++) {
        if (from === to) continue
        await waitFor(
          async () => (await ping(c(from), ips.get(to)!, { count: 1 })).received === 1,
          { what: `ping ${c(from)} -> ${ips.get(to)}`, timeoutMs: 5000 },
        )
      }
    }
  }, 60_000)

  test('an agent that stops renewing loses its node record with its lease; started again, it registers again', async () => {
    const gone = agents[2]!
    await gone.kill('SIGKILL')
    await waitFor(
      async () => {
        const n = (await agents[0]!.api('GET', '/v1/nodes')).body as {
          name: string
          alive: boolean
        }[]
        return n.find((x) => x.name === gone.node)?.alive === false
      },
      { what: `${gone.node} to be dead once its lease expired`, timeoutMs: 15_000 },
    )
    await gone.restart()
    await waitFor(
      async () => {
        const n = (await agents[0]!.api('GET', '/v1/nodes')).body as {
          name: string
          alive: boolean
        }[]
        return n.find((x) => x.name === gone.node)?.alive === true
      },
      { what: `${gone.node} registered again`, timeoutMs: 15_000 },
    )
    // its container is reachable again (its endpoint stayed in the store; the datapath was re-programmed)
    await waitFor(async () => (await ping(c(0), ips.get(2)!, { count: 1 })).received === 1, {
      what: 'ping to the restarted host',
      timeoutMs: 10_000,
    })
  }, 60_000)
})
