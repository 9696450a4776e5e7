// Moving a running cluster from the embedded store to a real three-member etcd without
// restarting containers: three real agents (dist/weft) on host 1's embedded store, one
// container each, pinging round the ring; `weft store export` from the embedded store,
// `weft store import` into etcd (a second import is refused and writes nothing), then each
// agent restarted with --store etcd://… (the store host first). The pings go on throughout,
// the containers keep their veths and addresses, the endpoints keep their ids, and a new
// connect on etcd works. Then back: the cluster is exported from etcd and imported into the
// stopped store host's embedded store file, and the agents move back onto it.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import {
  createTopology,
  etcdLeaks,
  leaks,
  mustRunIn,
  ping,
  runIn,
  spawnIn,
  startEtcdCluster,
  waitFor,
  type EtcdCluster,
  type NsProcess,
  type Topology,
} from '../harness/index.ts'
import { startAgents, storeJoinToken, WEFT, type RunningAgent } from '../agent/agents.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')

/** A ping that runs until stopped, every reply timestamped (-D), so gaps can be measured. */
interface Pinger {
  from: string
  to: string
  proc: NsProcess
}

function startPinger(from: string, to: string): Pinger {
  const proc = spawnIn(from, ['stdbuf', '-oL', 'ping', '-n', '-D', '-i', '0.05', to])
  return { from, to, proc }
}

/** Stop it (SIGINT: ping prints its summary) and read the replies. */
async function stopPinger(p: Pinger) {
  process.kill(p.proc.pid, 'SIGINT')
  await p.proc.exited
  const out = p.proc.stdout()
  const times = [...out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)/gm)].map(
    (m) => Number(m[1]) * 1000,
  )
  const stats = out.match(/(\d+) packets transmitted, (\d+) received/)
  let maxGapMs = 0
  for (let i = 1; i < times.length; i++) maxGapMs = Math.max(maxGapMs, times[i]! - times[i - 1]!)
  return {
    sent: stats ? Number(stats[1]) : 0,
    received: stats ? Number(stats[2]) : times.length,
    maxGapMs,
    output: out.slice(-400),
  }
}

describe('moving a running cluster from the embedded store to etcd and back', () => {
  let topo: Topology
  let etcd: EtcdCluster
  let agents: RunningAgent[]
  const c = (h: number, i = 0) => topo.hosts[h]!.containers[i]!.ns
  /** The first container of each host: its endpoint id, ip, and veth (ifindex inside the container). */
  const before = new Map<number, { id: string; ip: string; link: string }>()
  let pingers: Pinger[] = []
  let dir: string

  /** `ip -o link` of the container's interface: its ifindex and name (a new veth has another). */
  const linkOf = async (ns: string, ifname: string) =>
    (await mustRunIn(ns, ['ip', '-o', 'link', 'show', ifname])).stdout.split(':')[0]! +
    ':' +
    (await mustRunIn(ns, ['ip', '-o', '-4', 'addr', 'show', ifname])).stdout.match(
      /inet (\S+)/,
    )?.[1]

  /** Restart one agent (SIGTERM, live restore) on another --store; its data dir stays. */
  async function moveAgent(a: RunningAgent, storeArgs: string[], env: Record<string, string> = {}) {
    await a.proc.stop(5000)
    const args = [
      WEFT,
      'agent',
      '--name',
      a.node,
      '--advertise',
      a.host.underlay.ip,
      '--data',
      a.dataDir,
      '--api',
      `unix://${a.socket}`,
      '--datapath',
      'bpf',
      '--ttl',
      '2s',
      '--log-level',
      'warn',
      ...storeArgs,
    ]
    a.proc = spawnIn(a.host.ns, args, { env })
    const proc = a.proc
    let exited = false
    void proc.exited.then(() => (exited = true))
    await waitFor(
      async () => {
        if (exited) throw new Error(`agent ${a.node} exited: ${proc.stderr().slice(-2000)}`)
        return (await a.api('GET', '/healthz').catch(() => ({ status: 0 }))).status === 200
      },
      { what: `agent ${a.node} healthy on ${storeArgs.join(' ')}`, timeoutMs: 20_000 },
    )
  }

  const aliveOn = async (a: RunningAgent) =>
    ((await a.api('GET', '/v1/nodes')).body as { name: string; alive: boolean }[])
      .filter((n) => n.alive)
      .map((n) => n.name)
      .sort()

  const weft = (h: number, args: string[]) => runIn(topo.hosts[h]!.ns, [WEFT, ...args])

  beforeAll(async () => {
    topo = await createTopology({ hosts: 3, containersPerHost: 2 })
    etcd = await startEtcdCluster(topo, 3)
    agents = await startAgents(topo, { ttl: '2s' })
    dir = agents[0]!.dataDir.replace(/\/[^/]+$/, '')
    const r = await agents[0]!.api('POST', '/v1/networks', { name: 'move', subnet: '10.60.0.0/24' })
    if (r.status !== 201) throw new Error(`create move: ${r.status} ${JSON.stringify(r.body)}`)
    for (let h = 0; h < 3; h++) {
      const e = await agents[h]!.api('POST', '/v1/networks/move/connect', { sandbox: c(h) })
      if (e.status !== 201)
        throw new Error(`connect ${c(h)}: ${e.status} ${JSON.stringify(e.body)}`)
      before.set(h, { id: e.body.id, ip: e.body.ip, link: await linkOf(c(h), e.body.ifname) })
    }
    for (let h = 0; h < 3; h++) {
      const to = before.get((h + 1) % 3)!.ip
      await waitFor(async () => (await ping(c(h), to, { count: 1 })).received === 1, {
        what: `ping ${c(h)} -> ${to} on the embedded store`,
        timeoutMs: 10_000,
      })
    }
  }, 120_000)

  afterAll(async () => {
    for (const p of pingers) await p.proc.stop(1000)
    const prefix = topo.prefix
    await topo.destroy()
    expect(await leaks(prefix)).toEqual([])
    expect(await etcdLeaks(etcd)).toEqual([])
  }, 60_000)

  test('export from the embedded store, import into etcd; a second import is refused and writes nothing', async () => {
    const file = join(dir, 'cluster.json')
    // the CLI reaches the embedded store as this host's agent does: the join token it kept in --data
    const exp = await weft(1, [
      'store',
      'export',
      '--store',
      `consul://${topo.hosts[0]!.underlay.ip}:8500`,
      '--data',
      agents[1]!.dataDir,
      '--output',
      file,
    ])
    expect(exp.stderr).toContain('exported')
    expect(exp.code).toBe(0)
    const doc = JSON.parse(await Bun.file(file).text())
    expect(doc.nodes.length).toBe(3)
    expect(doc.keys.some((k: { key: string }) => k.key.startsWith('weft/v1/endpoints/'))).toBe(true)

    const imp = await weft(1, [
      'store',
      'import',
      '--store',
      etcd.storeUrl,
      '--node-grace',
      '60s',
      file,
    ])
    expect(imp.stderr).toContain(`imported ${doc.keys.length} keys into ${etcd.storeUrl}`)
    expect(imp.code).toBe(0)
    expect(await etcd.get(etcd.members[0]!, 'weft/v1/names/move')).toBe(
      doc.keys.find((k: { key: string }) => k.key === 'weft/v1/names/move').value,
    )
    // node records are bound to a lease (the grace), not permanent
    const node = await etcd.call(etcd.members[1]!, '/v3/kv/range', {
      key: b64(`weft/v1/nodes/${topo.hosts[2]!.node}`),
    })
    expect(node.kvs?.[0]?.lease ?? '0').not.toBe('0')

    const rev = (await etcd.status(etcd.members[0]!)).revision
    const again = await weft(1, ['store', 'import', '--store', etcd.storeUrl, file])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('nothing was written')
    expect((await etcd.status(etcd.members[0]!)).revision).toBe(rev)
  }, 60_000)

  test('agents restarted one by one on etcd: pings go on, containers keep veths and addresses, a new connect works', async () => {
    pingers = [0, 1, 2].map((h) => startPinger(c(h), before.get((h + 1) % 3)!.ip))
    await waitFor(() => pingers.every((p) => /bytes from/.test(p.proc.stdout())), {
      what: 'pingers answered',
    })
    // the store host first: its embedded store goes with it, the others forward on their mirrors
    for (const a of agents) {
      await moveAgent(a, ['--store', etcd.storeUrl])
      await waitFor(async () => (await aliveOn(a)).length === 3, {
        what: `${a.node} on etcd sees all three nodes alive`,
        timeoutMs: 10_000,
      })
    }
    // every node registered with its own lease (the import's grace leases revoked by name)
    for (const h of topo.hosts) {
      await waitFor(
        async () => {
          const r = await etcd.call(etcd.members[0]!, '/v3/kv/range', {
            key: b64(`weft/leases/weft-node-${h.node}/`),
            range_end: b64(`weft/leases/weft-node-${h.node}0`),
            keys_only: true,
          })
          return (r.kvs ?? []).length === 1
        },
        { what: `one lease named weft-node-${h.node}` },
      )
    }
    await Bun.sleep(1000) // a measurement window after the last restart, not synchronisation
    const results = []
    for (const p of pingers) results.push({ ...(await stopPinger(p)), from: p.from, to: p.to })
    pingers = []
    console.log('store move pings:', JSON.stringify(results.map(({ output, ...r }) => r)))
    for (const r of results) {
      expect(r.received).toBeGreaterThan(0)
      // no outage beyond a short window (an agent restart is live: the datapath stays programmed)
      expect({ from: r.from, maxGapMs: r.maxGapMs < 2000 }).toEqual({
        from: r.from,
        maxGapMs: true,
      })
      expect(r.received / r.sent).toBeGreaterThan(0.9)
    }
    for (let h = 0; h < 3; h++) {
      const was = before.get(h)!
      const eps = (await agents[h]!.api('GET', '/v1/endpoints')).body as {
        id: string
        ip: string
      }[]
      expect(eps.find((e) => e.id === was.id)?.ip).toBe(was.ip)
      const ifname = (eps.find((e) => e.id === was.id) as { ifname?: string })?.ifname ?? 'eth0'
      expect(await linkOf(c(h), ifname)).toBe(was.link)
    }
    const fresh = await agents[2]!.api('POST', '/v1/networks/move/connect', { sandbox: c(2, 1) })
    expect(fresh.status).toBe(201)
    expect([...before.values()].map((b) => b.ip)).not.toContain(fresh.body.ip)
    await waitFor(async () => (await ping(c(0), fresh.body.ip, { count: 1 })).received === 1, {
      what: 'ping to the endpoint connected on etcd',
      timeoutMs: 10_000,
    })
  }, 120_000)

  test('and back: etcd exported into the stopped store host’s embedded store file; agents move back', async () => {
    const file = join(dir, 'from-etcd.json')
    const exp = await weft(1, ['store', 'export', '--store', etcd.storeUrl, '-o', file])
    expect(exp.code).toBe(0)
    const host0 = agents[0]!
    await host0.proc.stop(5000)
    // its store file still holds the tree as it was before the move: replaced with --force
    const refused = await weft(0, [
      'store',
      'import',
      '--store',
      'embedded',
      '--data',
      host0.dataDir,
      '--name',
      host0.node,
      file,
    ])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('nothing was written')
    const imp = await weft(0, [
      'store',
      'import',
      '--store',
      'embedded',
      '--data',
      host0.dataDir,
      '--name',
      host0.node,
      '--force',
      file,
    ])
    expect(imp.stderr).toContain('imported')
    expect(imp.code).toBe(0)
    const storeAddr = `${topo.hosts[0]!.underlay.ip}:8500`
    await moveAgent(host0, ['--store', 'embedded', '--kv-listen', storeAddr])
    const token = storeJoinToken(dir, topo.hosts[0]!)
    for (const a of agents.slice(1))
      await moveAgent(a, ['--store', `consul://${storeAddr}`], { WEFT_JOIN_TOKEN: token })
    await waitFor(async () => (await aliveOn(agents[1]!)).length === 3, {
      what: 'three nodes alive on the embedded store again',
      timeoutMs: 15_000,
    })
    const eps = (await agents[1]!.api('GET', '/v1/endpoints')).body as { id: string }[]
    expect(eps.length).toBe(4)
    for (let h = 0; h < 3; h++) {
      const was = before.get(h)!
      await waitFor(
        async () => (await ping(c(h), before.get((h + 1) % 3)!.ip, { count: 1 })).received === 1,
        {
          what: `ping ${c(h)} after the move back`,
          timeoutMs: 10_000,
        },
      )
      expect(eps.some((e) => e.id === was.id)).toBe(true)
    }
  }, 120_000)
})
