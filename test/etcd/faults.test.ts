// Faults of a real three-member etcd cluster under real agents (dist/weft on
// `--store etcd://A,B,C`), in order on one cluster:
// 1. the leader is killed during 30 concurrent connects: each connect succeeds or fails
//    cleanly (nothing left of it), no address is handed out twice, writes go on after the
//    election;
// 2. quorum is lost (two members down): forwarding continues, writes are refused with 503 in
//    under 2 s, reads answer from the agents' mirrors and say they may be stale;
// 3. quorum is back: writes work again, every agent catches up, nothing lost or duplicated;
// 4. one agent is cut off from every member (not from its peers): forwarding continues, its
//    watch notices within seconds (health, 503 writes, stale reads), and it catches up after
//    (within its lease's TTL: past it the cluster takes the host for dead, as with Consul).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import {
  createTopology,
  etcdLeaks,
  leaks,
  ping,
  runIn,
  startEtcdCluster,
  waitFor,
  type EtcdCluster,
  type EtcdMember,
  type Topology,
} from '../harness/index.ts'
import { startAgents, WEFT, type RunningAgent } from '../agent/agents.ts'

const PER_HOST = 10
const b64 = (s: string) => Buffer.from(s).toString('base64')

interface Outcome {
  sandbox: string
  host: number
  status: number
  body: any
  ms: number
}

describe('etcd faults under real agents', () => {
  let topo: Topology
  let etcd: EtcdCluster
  let agents: RunningAgent[]
  let networkId: string
  /** Connected endpoints: sandbox ns -> ip. */
  const connected = new Map<string, string>()
  const sb = (h: number, i: number) => topo.hosts[h]!.containers[i]!.ns

  beforeAll(async () => {
    topo = await createTopology({ hosts: 3, containersPerHost: PER_HOST + 1 })
    etcd = await startEtcdCluster(topo, 3)
    // a TTL longer than the cut-off test: a host cut off from the store is a live node (and
    // its endpoints stay programmed on its peers) only until its lease expires
    agents = await startAgents(topo, { store: etcd.storeUrl, ttl: '30s' })
    const r = await agents[0]!.api('POST', '/v1/networks', {
      name: 'storm',
      subnet: '10.50.0.0/24',
    })
    if (r.status !== 201) throw new Error(`create storm: ${r.status} ${JSON.stringify(r.body)}`)
    networkId = r.body.Id
  }, 120_000)

  afterAll(async () => {
    const prefix = topo.prefix
    await topo.destroy()
    expect(await leaks(prefix)).toEqual([])
    expect(await etcdLeaks(etcd)).toEqual([])
  }, 60_000)

  /** The endpoint records of storm as etcd holds them, read through a running member. */
  const storeEndpoints = async (): Promise<{ sandbox: string; ip: string }[]> => {
    const m = etcd.members.find((x) => x.running)!
    const prefix = `weft/v1/endpoints/${networkId}/`
    const r = await etcd.call(m, '/v3/kv/range', {
      key: b64(prefix),
      range_end: b64(prefix.slice(0, -1) + '0'),
    })
    return (r.kvs ?? []).map((kv: { value: string }) => {
      const rec = JSON.parse(Buffer.from(kv.value, 'base64').toString())
      return { sandbox: String(rec.sandbox).replace(/^\/run\/netns\//, ''), ip: String(rec.ip) }
    })
  }
  /** Address reservations of storm in etcd (one per endpoint when nothing leaked). */
  const ipamCount = async (): Promise<number> => {
    const m = etcd.members.find((x) => x.running)!
    const prefix = `weft/v1/ipam/${networkId}/`
    const r = await etcd.call(m, '/v3/kv/range', {
      key: b64(prefix),
      range_end: b64(prefix.slice(0, -1) + '0'),
      count_only: true,
    })
    return Number(r.count ?? 0)
  }
  const interfaces = async (ns: string) =>
    (await runIn(ns, ['ip', '-o', 'link', 'show'])).stdout
      .split('\n')
      .filter((l) => /^\d+: /.test(l) && !/: lo:/.test(l))

  test('leader killed during 30 concurrent connects: each succeeds or fails cleanly, no address twice, writes go on', async () => {
    const leader = await etcd.waitForLeader()
    const outcomes: Outcome[] = []
    const t0 = performance.now()
    const connects = topo.hosts.flatMap((_, h) =>
      Array.from({ length: PER_HOST }, async (_, i) => {
        const sandbox = sb(h, i)
        const r = await agents[h]!.api('POST', '/v1/networks/storm/connect', { sandbox })
        outcomes.push({
          sandbox,
          host: h,
          status: r.status,
          body: r.body,
          ms: performance.now() - t0,
        })
      }),
    )
    // kill the leader while the connects are under way
    await waitFor(
      async () => (await storeEndpoints().catch(() => [])).length >= 1 || outcomes.length >= 1,
      { what: 'the first connect to land', timeoutMs: 10_000, intervalMs: 10 },
    )
    const answeredBeforeKill = outcomes.length
    await etcd.kill(leader)
    const killedAt = performance.now() - t0
    await Promise.all(connects)
    const next = await etcd.waitForLeader({ not: leader, timeoutMs: 10_000 })
    const ok = outcomes.filter((o) => o.status === 201)
    const failed = outcomes.filter((o) => o.status !== 201)
    console.log(
      `leader ${leader.name} killed at ${killedAt.toFixed(0)} ms with ${answeredBeforeKill}/30 connects answered; new leader ${next.name}; ` +
        `${ok.length} connected, ${failed.length} failed (${[...new Set(failed.map((f) => `${f.status} ${f.body?.error}`))].join(', ')}); ` +
        `slowest answer ${Math.max(...outcomes.map((o) => o.ms)).toFixed(0)} ms`,
    )
    for (const why of new Set(
      failed.map((f) =>
        String(f.body?.message)
          .replace(/[0-9a-f]{12,}/g, '…')
          .replace(/\d+ ms/g, 'N ms'),
      ),
    ))
      console.log(`  failed: ${why}`)
    expect(answeredBeforeKill).toBeLessThan(30) // the kill fell inside the storm
    expect(outcomes).toHaveLength(30)
    for (const o of ok) expect(o.body.status).toBe('attached')
    // a failure is an error the API names, never a hang or a 500 without a cause
    for (const f of failed) {
      expect([409, 500, 503]).toContain(f.status)
      expect(typeof f.body?.message).toBe('string')
    }
    // nothing of a failed connect stays: the store ends up with exactly the successful ones
    await waitFor(
      async () => {
        const eps = await storeEndpoints()
        return eps.length === ok.length && (await ipamCount()) === ok.length
      },
      {
        what: 'the store to hold exactly the successful connects (undos landed)',
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    )
    const eps = await storeEndpoints()
    expect(eps.map((e) => e.sandbox).sort()).toEqual(ok.map((o) => o.sandbox).sort())
    expect(new Set(eps.map((e) => e.ip)).size).toBe(eps.length) // no duplicate addresses
    for (const f of failed)
      await waitFor(async () => (await interfaces(f.sandbox)).length === 0, {
        what: `${f.sandbox} to be left without an interface`,
        timeoutMs: 15_000,
      })
    for (const o of ok) connected.set(o.sandbox, o.body.ip)

    // writes go on after the election: the failed ones connect now
    for (const f of failed) {
      const r = await agents[f.host]!.api('POST', '/v1/networks/storm/connect', {
        sandbox: f.sandbox,
      })
      expect(r.status).toBe(201)
      connected.set(f.sandbox, r.body.ip)
    }
    expect(new Set(connected.values()).size).toBe(30)
    // and traffic flows across hosts through endpoints made before and after the kill
    await waitFor(
      async () =>
        (await ping(sb(0, 0), connected.get(sb(2, PER_HOST - 1))!, { count: 1 })).received === 1,
      { what: 'ping across after the election', timeoutMs: 10_000 },
    )
    await etcd.restart(leader)
  }, 120_000)

  let downed: EtcdMember[] = []
  let endpointsBefore: { sandbox: string; ip: string }[] = []

  test('quorum lost: forwarding continues, writes are 503 in under 2 s, reads answer from the mirror marked stale', async () => {
    endpointsBefore = await storeEndpoints()
    expect(endpointsBefore).toHaveLength(30)
    const survivor = etcd.members[0]!
    downed = etcd.members.filter((m) => m !== survivor)
    for (const m of downed) await etcd.kill(m)
    // the survivor knows it has no leader (CheckQuorum: a lone leader steps down)
    await waitFor(async () => (await etcd.status(survivor)).leader === '0', {
      what: `${survivor.name} to have no leader`,
      timeoutMs: 10_000,
      intervalMs: 100,
    })

    // forwarding continues between hosts
    expect(
      (await ping(sb(0, 0), connected.get(sb(1, 0))!, { count: 3, intervalS: 0.1 })).received,
    ).toBe(3)
    expect(
      (await ping(sb(2, 1), connected.get(sb(0, 1))!, { count: 3, intervalS: 0.1 })).received,
    ).toBe(3)

    // writes are refused clearly and quickly
    const timed = async (f: () => Promise<{ status: number; body: any }>) => {
      const t = performance.now()
      const r = await f()
      return { ...r, ms: performance.now() - t }
    }
    const create = await timed(() =>
      agents[1]!.api('POST', '/v1/networks', { name: 'during-outage' }),
    )
    const connect = await timed(() =>
      agents[2]!.api('POST', '/v1/networks/storm/connect', { sandbox: sb(2, PER_HOST) }),
    )
    console.log(
      `quorum lost: create refused in ${create.ms.toFixed(0)} ms (${create.body.message}); connect refused in ${connect.ms.toFixed(0)} ms`,
    )
    for (const w of [create, connect]) {
      expect(w.status).toBe(503)
      expect(w.body.error).toBe('store_unreachable')
      expect(w.body.message).toMatch(/store unreachable/i)
      expect(w.ms).toBeLessThan(2000)
    }
    expect(await interfaces(sb(2, PER_HOST))).toEqual([])

    // reads answer from each agent's mirror and say they may be stale
    for (const a of agents) {
      for (const path of ['/v1/networks', '/v1/networks/storm', '/v1/nodes']) {
        const r = await raw(a, 'GET', path)
        expect(r.status).toBe(200)
        expect(r.warning).toMatch(/cluster store is unreachable.*may be stale/)
      }
    }
    // and the CLI says so on stderr, printing the listing as usual
    for (const args of [
      ['network', 'ls'],
      ['network', 'inspect', 'storm'],
      ['node', 'ls'],
    ]) {
      const cli = Bun.spawnSync([WEFT, '--host', `unix://${agents[1]!.socket}`, ...args], {
        stdout: 'pipe',
        stderr: 'pipe',
      })
      expect(cli.exitCode).toBe(0)
      expect(cli.stderr.toString()).toMatch(
        /^warning: the cluster store is unreachable .*: this is this agent's local copy and may be stale\n$/,
      )
      expect(cli.stdout.toString()).toContain(args[0] === 'node' ? topo.hosts[0]!.node : 'storm')
    }
    const inspect = await raw(agents[0]!, 'GET', '/v1/networks/storm')
    expect(Object.keys(inspect.body.Containers)).toHaveLength(30)
    const nodes = await raw(agents[2]!, 'GET', '/v1/nodes')
    expect(nodes.body.filter((n: { alive: boolean }) => n.alive)).toHaveLength(3)
  }, 60_000)

  test('quorum back: writes work again, every agent resyncs, nothing lost or duplicated', async () => {
    expect(downed).toHaveLength(2)
    for (const m of downed) await etcd.restart(m)
    await etcd.waitForLeader({ timeoutMs: 15_000 })
    await waitFor(
      async () =>
        (
          await agents[1]!.api('POST', '/v1/networks', {
            name: 'after-outage',
            subnet: '10.51.0.0/24',
          })
        ).status === 201,
      {
        what: 'writes to work again',
        timeoutMs: 15_000,
        intervalMs: 250,
      },
    )
    // every agent's watch resumed: it sees the new network, and its reads are no longer marked stale
    for (const a of agents) {
      await waitFor(
        async () => {
          const r = await raw(a, 'GET', '/v1/networks')
          return (
            r.status === 200 &&
            r.warning === null &&
            r.body.some((n: { Name: string }) => n.Name === 'after-outage')
          )
        },
        {
          what: `${a.node} to see after-outage from the store`,
          timeoutMs: 15_000,
          intervalMs: 100,
        },
      )
    }
    // the leases outlived the outage: every node is still alive, healthy again
    for (const a of agents) {
      await waitFor(async () => (await a.api('GET', '/healthz')).status === 200, {
        what: `${a.node} healthy`,
        timeoutMs: 15_000,
        intervalMs: 200,
      })
    }
    const nodes = await agents[0]!.api('GET', '/v1/nodes')
    expect(nodes.body.filter((n: { alive: boolean }) => n.alive)).toHaveLength(3)
    // nothing lost or duplicated
    const after = await storeEndpoints()
    const key = (e: { sandbox: string; ip: string }) => `${e.sandbox}=${e.ip}`
    expect(after.map(key).sort()).toEqual(endpointsBefore.map(key).sort())
    expect(await ipamCount()).toBe(30)
    // and a connect refused during the outage works now, reachable across hosts
    const c = await agents[2]!.api('POST', '/v1/networks/storm/connect', {
      sandbox: sb(2, PER_HOST),
    })
    expect(c.status).toBe(201)
    expect([...connected.values()]).not.toContain(c.body.ip)
    await waitFor(async () => (await ping(sb(0, 0), c.body.ip, { count: 1 })).received === 1, {
      what: 'ping to the endpoint made after the outage',
      timeoutMs: 10_000,
    })
  }, 60_000)

  test('an agent cut off from etcd but not from its peers keeps forwarding, knows it is cut off, and catches up', async () => {
    const cut = agents[2]!
    const routes = etcd.members.map((m) => `${m.ip}/32`)
    for (const r of routes)
      expect((await runIn(cut.host.ns, ['ip', 'route', 'add', 'unreachable', r])).code).toBe(0)
    let restored = false
    const restore = async () => {
      if (restored) return
      restored = true
      for (const r of routes) await runIn(cut.host.ns, ['ip', 'route', 'del', 'unreachable', r])
    }
    topo.track(restore)
    const t0 = performance.now()
    try {
      // forwarding to and from the cut-off host goes on
      expect(
        (await ping(sb(2, 0), connected.get(sb(0, 0))!, { count: 3, intervalS: 0.1 })).received,
      ).toBe(3)
      expect(
        (await ping(sb(1, 0), connected.get(sb(2, 0))!, { count: 3, intervalS: 0.1 })).received,
      ).toBe(3)
      // its watch notices (the probe of its member fails), so health says so
      await waitFor(
        async () => (await cut.api('GET', '/healthz')).body?.store?.reachable === false,
        { what: `${cut.node} to see the store unreachable`, timeoutMs: 10_000, intervalMs: 100 },
      )
      console.log(
        `cut off: ${cut.node} reports the store unreachable after ${(performance.now() - t0).toFixed(0)} ms`,
      )
      const tw = performance.now()
      const w = await cut.api('POST', '/v1/networks', { name: 'while-cut' })
      console.log(
        `cut off: a write refused with ${w.status} in ${(performance.now() - tw).toFixed(0)} ms: ${w.body.message}`,
      )
      expect(w.status).toBe(503)
      const r = await raw(cut, 'GET', '/v1/networks/storm')
      expect(r.status).toBe(200)
      expect(r.warning).toMatch(/may be stale/)
      // meanwhile the rest of the cluster writes
      expect(
        (
          await agents[0]!.api('POST', '/v1/networks', {
            name: 'while-cut-elsewhere',
            subnet: '10.52.0.0/24',
          })
        ).status,
      ).toBe(201)
      expect(
        (await ping(sb(2, 1), connected.get(sb(1, 1))!, { count: 3, intervalS: 0.1 })).received,
      ).toBe(3)
    } finally {
      await restore()
    }
    // reconnected: it catches up on what was written meanwhile and writes again
    await waitFor(
      async () => {
        const r = await raw(cut, 'GET', '/v1/networks')
        return (
          r.warning === null &&
          r.body.some?.((n: { Name: string }) => n.Name === 'while-cut-elsewhere')
        )
      },
      { what: `${cut.node} to catch up after the cut`, timeoutMs: 15_000, intervalMs: 100 },
    )
    await waitFor(async () => (await cut.api('GET', '/healthz')).status === 200, {
      what: `${cut.node} healthy again`,
      timeoutMs: 15_000,
      intervalMs: 200,
    })
    expect(
      (await cut.api('POST', '/v1/networks', { name: 'after-cut', subnet: '10.53.0.0/24' })).status,
    ).toBe(201)
    const nodes = await agents[0]!.api('GET', '/v1/nodes')
    expect(nodes.body.filter((n: { alive: boolean }) => n.alive)).toHaveLength(3)
  }, 60_000)
})

/** An admin API request that also returns the Warning header. */
async function raw(
  a: RunningAgent,
  method: string,
  path: string,
): Promise<{ status: number; body: any; warning: string | null }> {
  const res = await fetch(`http://weft${path}`, { method, unix: a.socket } as RequestInit)
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: res.status, body, warning: res.headers.get('warning') }
}
