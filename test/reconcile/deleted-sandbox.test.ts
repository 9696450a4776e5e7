// The wedge of issue 12: `connect` a sandbox, `ip netns del` it (what every exiting container
// does), and at the next resync (at once after an agent restart) every reconcile pass on that
// host used to fail with `host interface name "" must be 1..15 characters long`: new connects
// there failed and endpoints added on other hosts were never programmed there. Real agents
// (dist/weft), real namespaces, real pings.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTopology, ping, run, runIn, waitFor, type Topology } from '../harness/index.ts'
import { startAgents, type RunningAgent } from '../agent/agents.ts'

for (const datapath of ['bpf', 'kernel'] as const) {
  describe(`a deleted sandbox does not wedge its host (${datapath} datapath)`, () => {
    let topo: Topology
    let agents: RunningAgent[]

    beforeAll(async () => {
      topo = await createTopology({ hosts: 2, containersPerHost: 1 })
      agents = await startAgents(topo, { datapath })
    }, 60_000)
    afterAll(async () => {
      await topo.destroy()
    }, 60_000)

    const connect = async (host: number, sandbox: string, ip?: string) => {
      const r = await agents[host]!.api('POST', '/v1/networks/wedge/connect', {
        sandbox,
        ...(ip && { ip }),
      })
      expect(r).toMatchObject({ status: 201, body: { status: 'attached' } })
      return r.body as { id: string; ip: string; name: string }
    }
    const reaches = (from: string, ip: string) =>
      waitFor(async () => (await ping(from, ip, { count: 1, timeoutMs: 500 })).received === 1, {
        what: `ping ${from} -> ${ip}`,
        timeoutMs: 10_000,
      })
    const hostLinkExists = async (host: number, ifname: string) =>
      (await runIn(topo.hosts[host]!.ns, ['ip', 'link', 'show', 'dev', ifname])).code === 0

    test('after `ip netns del` and an agent restart, new connects work, remote endpoints keep being programmed, and the address can be reused', async () => {
      expect(
        (await agents[0]!.api('POST', '/v1/networks', { name: 'wedge', subnet: '10.88.0.0/24' }))
          .status,
      ).toBe(201)
      const far = await connect(1, topo.hosts[1]!.containers[0]!.ns)
      const x = await topo.addContainer(0)
      const gone = await connect(0, x.ns)
      await reaches(x.ns, far.ip)

      // the container exits while its agent is down (a running agent releases the endpoint
      // within milliseconds, test/agent/sandbox-follow.test.ts): its namespace, and with it both
      // ends of its veth, are gone, and the restarted agent finds the record and a stale entry
      const hostVeth = `wf${gone.id.slice(0, 10)}`
      expect(await hostLinkExists(0, hostVeth)).toBe(true)
      await agents[0]!.kill('SIGTERM')
      expect((await run(['ip', 'netns', 'del', x.ns])).code).toBe(0)
      await waitFor(async () => !(await hostLinkExists(0, hostVeth)), {
        what: `${hostVeth} to go with its namespace`,
      })

      // a restart resyncs from the kernel at once (the periodic resync would do the same within 30 s)
      await agents[0]!.restart()

      // the gone endpoint is released by itself, no disconnect call
      await waitFor(
        async () => {
          const r = await agents[0]!.api('GET', '/v1/endpoints')
          return r.status === 200 && !r.body.some((e: { id: string }) => e.id === gone.id)
        },
        { what: 'the gone endpoint to be released', timeoutMs: 5000 },
      )
      // its address, connected on the other host, is programmed here as remote (a stale local
      // entry for it would refuse that)
      const w = (await topo.addContainer(1)).ns
      const reused = await connect(1, w, gone.ip)
      expect(reused.ip).toBe(gone.ip)

      // new connects on that host work...
      const y = (await topo.addContainer(0)).ns
      await connect(0, y)
      await reaches(y, far.ip)
      await reaches(y, gone.ip)
      // ...and an endpoint added on another host is programmed there
      const z = (await topo.addContainer(1)).ns
      const late = await connect(1, z)
      await reaches(y, late.ip)
      const health = await agents[0]!.api('GET', '/healthz')
      expect(health.body.reconcile.lastError).toBeNull()
    }, 90_000)
  })
}
