// Scoped following with real agents (dist/weft) on three hosts, one embedded store: a host
// mirrors a network's endpoints only while it has a local endpoint there. Its first connect
// brings the network's full state (mirrored when the connect returns); after its last
// endpoint leaves, the network's changes no longer reach it; a restarted agent follows what it
// serves again from its mirror. What an agent mirrors is read from its weft_endpoints gauge
// (counted from the mirror's view); another host that follows the network is the witness
// that a change was delivered.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTopology, ping, waitFor, type Topology } from '../harness/index.ts'
import { startAgents, type RunningAgent } from './agents.ts'

const DATAPATH = (process.env.WEFT_TEST_DATAPATH ?? 'bpf') as 'bpf' | 'kernel'

describe(`scoped following on 3 hosts (${DATAPATH} datapath)`, () => {
  let topo: Topology
  let agents: RunningAgent[]

  beforeAll(async () => {
    topo = await createTopology({ hosts: 3, containersPerHost: 2 })
    agents = await startAgents(topo, { datapath: DATAPATH })
  }, 60_000)
  afterAll(async () => {
    await topo.destroy()
  }, 60_000)

  const c = (host: number, n = 0) => topo.hosts[host]!.containers[n]!.ns
  /** Endpoints in the agent's mirror: its own and the others' (of networks it follows). */
  const mirrored = async (a: RunningAgent) => {
    const r = await fetch('http://weft/metrics', { unix: a.socket } as RequestInit)
    const text = await r.text()
    const n = (kind: string) =>
      Number(text.match(new RegExp(`^weft_endpoints\\{kind="${kind}"\\} (\\d+)`, 'm'))?.[1] ?? NaN)
    return { local: n('local'), remote: n('remote') }
  }
  const connect = async (h: number, sandbox: string) => {
    const r = await agents[h]!.api('POST', '/v1/networks/scoped/connect', { sandbox })
    expect(r.status).toBe(201)
    expect(r.body.status).toBe('attached')
    return r.body as { ip: string; Id?: string }
  }
  const ips: string[] = []

  test('a host with no endpoint in a network mirrors none of its endpoints; the hosts that serve it see each other', async () => {
    expect(
      (await agents[0]!.api('POST', '/v1/networks', { name: 'scoped', subnet: '10.78.0.0/24' }))
        .status,
    ).toBe(201)
    ips.push((await connect(0, c(0))).ip, (await connect(1, c(1))).ip)
    await waitFor(
      async () =>
        (await mirrored(agents[0]!)).remote === 1 && (await mirrored(agents[1]!)).remote === 1,
      {
        what: 'hosts 1 and 2 mirror each other',
      },
    )
    expect(await mirrored(agents[2]!)).toEqual({ local: 0, remote: 0 })
    // the network itself is known everywhere
    const ls = await agents[2]!.api('GET', '/v1/networks')
    expect(ls.body.map((n: { Name: string }) => n.Name)).toContain('scoped')
  }, 30_000)

  test("the host's first connect brings the network's full state: when it returns the host mirrors both others; its container reaches them", async () => {
    await connect(2, c(2))
    expect(await mirrored(agents[2]!)).toEqual({ local: 1, remote: 2 })
    // the echo reply also needs the far host to have learned the new endpoint (its own watch)
    for (const ip of ips) {
      await waitFor(async () => (await ping(c(2), ip, { count: 1 })).received === 1, {
        what: `ping ${c(2)} -> ${ip}`,
        timeoutMs: 5000,
      })
    }
  }, 30_000)

  test('a restarted agent follows the network it serves again (from its mirror) and keeps the traffic', async () => {
    await agents[2]!.kill('SIGKILL')
    await agents[2]!.restart()
    await waitFor(async () => (await mirrored(agents[2]!)).remote === 2, {
      what: 'host 3 mirrors the network again',
    })
    // a change made while it runs again arrives
    const more = await connect(0, c(0, 1))
    await waitFor(async () => (await mirrored(agents[2]!)).remote === 3, {
      what: 'host 3 sees the new endpoint',
    })
    await waitFor(async () => (await ping(c(2), more.ip, { count: 1 })).received === 1, {
      what: `ping ${c(2)} -> ${more.ip}`,
      timeoutMs: 5000,
    })
  }, 60_000)

  test("after the host's last endpoint leaves, the network's changes no longer reach it", async () => {
    const r = await agents[2]!.api('POST', '/v1/networks/scoped/disconnect', { endpoint: c(2) })
    expect(r.status).toBe(200)
    await waitFor(async () => (await mirrored(agents[2]!)).remote === 0, {
      what: 'host 3 drops the network',
    })
    expect((await mirrored(agents[2]!)).local).toBe(0)
    // host 2 (which serves it) sees the next change; host 3 never does
    const before = (await mirrored(agents[0]!)).remote
    await connect(1, c(1, 1))
    await waitFor(async () => (await mirrored(agents[0]!)).remote === before + 1, {
      what: 'host 1 sees the change',
    })
    expect(await mirrored(agents[2]!)).toEqual({ local: 0, remote: 0 })
  }, 30_000)
})
