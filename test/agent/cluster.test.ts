// Control plane end to end: real agents (dist/weft) in host namespaces, one embedded
// store, real containers and pings. Datapath: WEFT_TEST_DATAPATH (default bpf).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTopology, ping, runIn, waitFor, type Topology } from '../harness/index.ts'
import { startAgents, WEFT, type RunningAgent } from './agents.ts'
import { isolationViolations, type Sandbox } from './isolation.ts'

const DATAPATH = (process.env.WEFT_TEST_DATAPATH ?? 'bpf') as 'bpf' | 'kernel'
const TTL_MS = 2000

describe(`control plane on 3 hosts (${DATAPATH} datapath)`, () => {
  let topo: Topology
  let agents: RunningAgent[]
  /** endpoint ip per container ns, network "blue" */
  const blueIp = new Map<string, string>()
  /** the same endpoints as sandboxes of the isolation check */
  const blueSb = new Map<string, Sandbox>()

  beforeAll(async () => {
    topo = await createTopology({ hosts: 3, containersPerHost: 2 })
    agents = await startAgents(topo, { datapath: DATAPATH, ttl: `${TTL_MS / 1000}s` })
  }, 60_000)

  afterAll(async () => {
    await topo.destroy()
  }, 60_000)

  const c = (host: number, n = 0) => topo.hosts[host]!.containers[n]!.ns

  test('a network created through host 1 is listed by hosts 2 and 3', async () => {
    const r = await agents[0]!.api('POST', '/v1/networks', { name: 'blue', subnet: '10.10.0.0/24' })
    expect(r.status).toBe(201)
    expect(r.body.Options['com.docker.network.driver.overlay.vxlanid_list']).toBe('256')
    for (const a of agents.slice(1)) {
      const ls = await a.api('GET', '/v1/networks')
      expect(ls.status).toBe(200)
      expect(ls.body.map((n: { Name: string }) => n.Name)).toContain('blue')
    }
  })

  test('containers on all three hosts ping each other (full mesh)', async () => {
    for (let h = 0; h < 3; h++) {
      const r = await agents[h]!.api('POST', '/v1/networks/blue/connect', { sandbox: c(h) })
      expect(r.status).toBe(201)
      expect(r.body.status).toBe('attached')
      blueIp.set(c(h), r.body.ip)
      blueSb.set(c(h), {
        ns: c(h),
        ip: r.body.ip,
        mac: r.body.mac,
        ifname: r.body.ifname,
        network: 'blue',
        agent: agents[h]!,
      })
    }
    expect(new Set(blueIp.values()).size).toBe(3)
    for (let from = 0; from < 3; from++) {
      for (let to = 0; to < 3; to++) {
        if (from === to) continue
        const ip = blueIp.get(c(to))!
        await waitFor(async () => (await ping(c(from), ip, { count: 1 })).received === 1, {
          what: `ping ${c(from)} -> ${ip}`,
          timeoutMs: 5000,
        })
      }
    }
  }, 60_000)

  test('a second network stays isolated from the first', async () => {
    const r = await agents[1]!.api('POST', '/v1/networks', { name: 'red', subnet: '10.20.0.0/24' })
    expect(r.status).toBe(201)
    const red = new Map<string, string>()
    const redSb = new Map<string, Sandbox>()
    for (const h of [0, 1]) {
      const e = await agents[h]!.api('POST', '/v1/networks/red/connect', { sandbox: c(h, 1) })
      expect(e.status).toBe(201)
      red.set(c(h, 1), e.body.ip)
      redSb.set(c(h, 1), {
        ns: c(h, 1),
        ip: e.body.ip,
        mac: e.body.mac,
        ifname: e.body.ifname,
        network: 'red',
        agent: agents[h]!,
      })
    }
    // red works across hosts...
    await waitFor(
      async () => (await ping(c(0, 1), red.get(c(1, 1))!, { count: 1 })).received === 1,
      {
        what: 'ping across red',
      },
    )
    // ...but reaches nothing in blue, same host or across, even with a route and the MAC in
    // hand: the datapath drops it (counted as unknown_dst where it counts drops by reason).
    // test/agent/isolation-bug.test.ts shows this check failing on a datapath that ignores the VNI.
    const countsDrops = DATAPATH === 'bpf'
    expect(
      await isolationViolations(redSb.get(c(0, 1))!, blueSb.get(c(0))!, { countsDrops }),
    ).toEqual([])
    expect(
      await isolationViolations(redSb.get(c(0, 1))!, blueSb.get(c(1))!, { countsDrops }),
    ).toEqual([])
    expect(
      await isolationViolations(blueSb.get(c(1))!, redSb.get(c(0, 1))!, { countsDrops }),
    ).toEqual([])
  }, 30_000)

  test('30 endpoints attached concurrently across 3 hosts get 30 distinct addresses', async () => {
    const created = await agents[2]!.api('POST', '/v1/networks', {
      name: 'many',
      subnet: '10.30.0.0/24',
    })
    expect(created.status).toBe(201)
    const sandboxes: { host: number; ns: string }[] = []
    for (let i = 0; i < 30; i++)
      sandboxes.push({ host: i % 3, ns: (await topo.addContainer(i % 3)).ns })
    const results = await Promise.all(
      sandboxes.map((s) =>
        agents[s.host]!.api('POST', '/v1/networks/many/connect', { sandbox: s.ns }),
      ),
    )
    for (const r of results) expect(r.status).toBe(201)
    const ips = results.map((r) => r.body.ip as string)
    expect(new Set(ips).size).toBe(30)
    const inspect = await agents[0]!.api('GET', '/v1/networks/many')
    expect(Object.keys(inspect.body.Containers).length).toBe(30)
  }, 60_000)

  test('one sandbox connected to 4 networks at once gets eth0..eth3, each programmed', async () => {
    const sb = (await topo.addContainer(1)).ns
    const nets = ['m0', 'm1', 'm2', 'm3']
    for (const [i, n] of nets.entries()) {
      expect(
        (await agents[0]!.api('POST', '/v1/networks', { name: n, subnet: `10.4${i}.0.0/24` }))
          .status,
      ).toBe(201)
    }
    const rs = await Promise.all(
      nets.map((n) => agents[1]!.api('POST', `/v1/networks/${n}/connect`, { sandbox: sb })),
    )
    for (const r of rs) expect(r.status).toBe(201)
    expect(rs.map((r) => r.body.ifname).sort()).toEqual(['eth0', 'eth1', 'eth2', 'eth3'])
    expect(rs.every((r) => r.body.status === 'attached')).toBe(true)
  }, 30_000)

  test('two networks created concurrently with the same name: exactly one wins', async () => {
    const [a, b] = await Promise.all([
      agents[0]!.api('POST', '/v1/networks', { name: 'twin' }),
      agents[1]!.api('POST', '/v1/networks', { name: 'twin' }),
    ])
    expect([a.status, b.status].sort()).toEqual([201, 409])
    const loser = a.status === 409 ? a : b
    expect(loser.body.error).toBe('name_taken')
    expect(loser.body.message).toContain('twin')
  })

  test('a SIGKILLed agent: its node record expires within 2xTTL + margin; bpf peers keep its endpoints while its datapath answers probes, kernel peers drop them; restarted, traffic resumes', async () => {
    const victim = agents[2]!
    const target = blueIp.get(c(2))!
    await victim.kill('SIGKILL')
    const t0 = Date.now()
    await waitFor(
      async () =>
        (await agents[0]!.api('GET', '/v1/nodes')).body.find(
          (n: { name: string }) => n.name === victim.node,
        )?.alive === false,
      {
        what: "the dead agent's node record to expire",
        timeoutMs: 2 * TTL_MS + 4000,
        intervalMs: 200,
      },
    )
    console.log(
      `[cluster] node death -> node record gone after ${Date.now() - t0} ms (TTL ${TTL_MS} ms)`,
    )
    if (DATAPATH === 'bpf') {
      // live restore that lasts (issue 12 item 4): its pinned BPF answers the peers' probes, so
      // they keep sending to it (test/probe/agent-down.test.ts: under load, and hosts really gone)
      expect((await ping(c(0), target, { count: 3, intervalS: 0.1 })).received).toBe(3)
    } else {
      // a kernel-datapath host cannot answer probes: the lease alone decides
      await waitFor(
        async () => (await ping(c(0), target, { count: 1, timeoutMs: 500 })).received === 0,
        {
          what: `host 1 to drop ${target} after the node died`,
          timeoutMs: 4000,
          intervalMs: 200,
        },
      )
    }

    await victim.restart()
    await waitFor(
      async () => (await ping(c(0), target, { count: 1, timeoutMs: 500 })).received === 1,
      {
        what: `traffic to ${target} to resume after restart`,
        timeoutMs: 10_000,
      },
    )
    const eps = await victim.api('GET', '/v1/networks/blue')
    expect(
      Object.values(eps.body.Containers).some((e: any) => e.IPv4Address.startsWith(target)),
    ).toBe(true)
  }, 60_000)

  test('store down: forwarding continues, writes fail clearly, and everything resyncs when it returns', async () => {
    const store = agents[0]!
    await store.kill('SIGTERM')
    // existing endpoints between hosts 2 and 3 keep forwarding
    expect((await ping(c(1), blueIp.get(c(2))!, { count: 3, intervalS: 0.1 })).received).toBe(3)
    const w = await agents[1]!.api('POST', '/v1/networks', { name: 'during-outage' })
    expect(w.status).toBe(503)
    expect(w.body.error).toBe('store_unreachable')
    expect(w.body.message).toMatch(/store unreachable/i)

    await store.restart()
    await waitFor(
      async () =>
        (await agents[1]!.api('POST', '/v1/networks', { name: 'after-outage' })).status === 201,
      {
        what: 'writes to work again',
        timeoutMs: 15_000,
        intervalMs: 250,
      },
    )
    await waitFor(
      async () =>
        (await agents[2]!.api('GET', '/v1/networks')).body.some?.(
          (n: { Name: string }) => n.Name === 'after-outage',
        ),
      { what: 'host 3 to see the new network', timeoutMs: 10_000 },
    )
    // and a new endpoint on host 1 is reachable from host 3
    const e = await store.api('POST', '/v1/networks/blue/connect', { sandbox: c(0, 1) })
    expect(e.status).toBe(201)
    await waitFor(async () => (await ping(c(2), e.body.ip, { count: 1 })).received === 1, {
      what: 'ping new endpoint',
    })
  }, 60_000)

  test('an agent restarted while the store is down comes up from libSQL and programs the datapath', async () => {
    const store = agents[0]!
    const b = agents[1]!
    await store.kill('SIGTERM')
    await b.kill('SIGKILL')
    // wipe b's datapath so only a restart from its local libSQL mirror can bring traffic back
    const down = await runIn(b.host.ns, [
      WEFT,
      'agent',
      '--teardown',
      '--name',
      b.node,
      '--advertise',
      b.host.underlay.ip,
      '--datapath',
      DATAPATH,
    ])
    expect(down.code).toBe(0)
    expect((await ping(c(1), blueIp.get(c(2))!, { count: 1, timeoutMs: 500 })).received).toBe(0)
    await b.restart()
    await waitFor(
      async () =>
        (await ping(c(1), blueIp.get(c(2))!, { count: 1, timeoutMs: 500 })).received === 1,
      {
        what: 'traffic from the restarted agent (store still down)',
        timeoutMs: 10_000,
      },
    )
    const h = await b.api('GET', '/healthz')
    expect(h.body.store.reachable).toBe(false)
    await store.restart()
  }, 60_000)
})
