// A container's first packet: when `connect` returns, the new container's host already knows
// the network's endpoints on other hosts. The reconciler programs a network's remote endpoints
// before it attaches a new local one; otherwise the container's first ARP goes unanswered and
// its first packet waits out a 1 s retransmit (seen with the kernel datapath). Checked on the
// new container's side only (its neighbour entry after one ping): the echo reply also needs
// the far host to have learned the new endpoint, which is the bench's attach-to-reachable.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTopology, runIn, waitFor, type Topology } from '../harness/index.ts'
import { startAgents, type RunningAgent } from './agents.ts'

for (const datapath of ['bpf', 'kernel'] as const) {
  describe(`first packet of a new container (${datapath} datapath)`, () => {
    let topo: Topology
    let agents: RunningAgent[]

    beforeAll(async () => {
      topo = await createTopology({ hosts: 2, containersPerHost: 2 })
      agents = await startAgents(topo, { datapath })
    }, 60_000)
    afterAll(async () => {
      await topo.destroy()
    }, 60_000)

    const c = (host: number, n = 0) => topo.hosts[host]!.containers[n]!.ns
    let remoteIp = ''
    /**
     * The state of `from`'s neighbour entry for `ip` 800 ms after its first packet to it: an
     * answered ARP leaves a MAC (REACHABLE/STALE/DELAY), an unanswered one INCOMPLETE until the
     * 1 s retransmit (800 ms stays below it and leaves room for a loaded machine).
     */
    const firstArp = async (from: string, ip: string) => {
      await runIn(from, ['ping', '-n', '-c', '1', '-W', '0.8', ip])
      const n = JSON.parse((await runIn(from, ['ip', '-j', 'neigh', 'show', ip])).stdout || '[]') as { lladdr?: string; state?: string[] }[]
      return { lladdr: n[0]?.lladdr, state: n[0]?.state?.join(',') }
    }

    test("the first endpoint of a network on a host: its first ARP for a remote endpoint is answered", async () => {
      expect((await agents[0]!.api('POST', '/v1/networks', { name: 'fp', subnet: '10.77.0.0/24' })).status).toBe(201)
      const a = await agents[0]!.api('POST', '/v1/networks/fp/connect', { sandbox: c(0) })
      expect(a.status).toBe(201)
      remoteIp = a.body.ip
      // host 2 knows host 1's endpoint before its own first connect to the network
      await waitFor(async () => {
        const r = await agents[1]!.api('GET', '/v1/nodes')
        return r.body.find((n: { name: string; endpoints: number }) => n.name === agents[0]!.node)?.endpoints === 1
      }, { what: 'host 2 sees host 1 endpoint' })
      const b = await agents[1]!.api('POST', '/v1/networks/fp/connect', { sandbox: c(1) })
      expect(b.status).toBe(201)
      expect(await firstArp(c(1), remoteIp)).toMatchObject({ lladdr: expect.stringMatching(/^02:42:/) })
    }, 30_000)

    test('a second container on that host too', async () => {
      const b = await agents[1]!.api('POST', '/v1/networks/fp/connect', { sandbox: c(1, 1) })
      expect(b.status).toBe(201)
      expect(await firstArp(c(1, 1), remoteIp)).toMatchObject({ lladdr: expect.stringMatching(/^02:42:/) })
    }, 30_000)
  })
}
