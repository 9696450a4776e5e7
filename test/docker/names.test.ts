// Names of Docker containers across hosts: two real dockerd hosts with a weft agent each
// (`weft agent --docker`), real containers asking Docker's own resolver (127.0.0.11 inside the
// container), which forwards what it does not know to the daemon's --dns from inside the
// container; weft answers there. dnsmasq on the underlay is both dockerd's --dns and the agents'
// --resolv-conf, so every query stays in the test's namespaces. Needs root, BPF and docker.io.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import {
  BUSYBOX_IMAGE,
  createTopology,
  dockerLeaks,
  leaks,
  runIn,
  startDockerHost,
  waitFor,
  type DockerHost,
  type Topology,
} from '../harness/index.ts'
import { startAgents, type RunningAgent } from '../agent/agents.ts'
import { dnsClientIn, type DnsClient } from '../dns/client.ts'
import { startUpstream, type Upstream } from '../dns/upstream.ts'

const HOSTS = 2
const OUTSIDE = { name: 'outside.example.test', ip: '192.0.2.9' }

describe(`names of Docker containers on ${HOSTS} dockerd hosts`, () => {
  let topo: Topology
  let upstream: Upstream
  const dh: DockerHost[] = []
  let agents: RunningAgent[]
  const clients: DnsClient[] = []

  beforeAll(async () => {
    topo = await createTopology({ hosts: HOSTS, containersPerHost: 0 })
    upstream = await startUpstream(topo, { [OUTSIDE.name]: OUTSIDE.ip })
    for (let i = 0; i < HOSTS; i++) dh.push(await startDockerHost(topo, i, { dns: upstream.ip }))
    agents = await startAgents(topo, {
      extraArgs: ['--resolv-conf', upstream.resolvConf],
      hostArgs: (host) => {
        const d = dh.find((x) => x.host === host)!
        return [
          '--docker',
          `unix://${d.socket}`,
          '--docker-plugin-socket',
          join(d.pluginsDir, 'weft.sock'),
        ]
      },
    })
    for (const [name, subnet] of [
      ['ov_net1', '10.60.1.0/24'],
      ['ov_net2', '10.60.2.0/24'],
    ])
      await dh[0]!.mustDocker([
        'network',
        'create',
        '-d',
        'weft',
        '--ipam-driver',
        'weft',
        '--subnet',
        subnet!,
        name!,
      ])
    for (const name of ['ov_net1', 'ov_net2'])
      await waitFor(async () => (await dh[1]!.docker(['network', 'inspect', name])).code === 0, {
        what: `${name} in host 2's docker`,
        timeoutMs: 10_000,
      })
  }, 240_000)

  afterAll(async () => {
    for (const c of clients) c.close()
    const prefix = topo.prefix
    for (const d of dh) {
      const ids = (await d.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean)
      if (ids.length) await d.docker(['rm', '-f', ...ids])
    }
    for (const a of agents ?? []) await a.proc.stop(3000)
    for (const d of dh) await d.stop()
    await topo.destroy()
    expect(await leaks(prefix)).toEqual([])
    for (const d of dh) expect(dockerLeaks(d)).toEqual([])
  }, 180_000)

  const run = (d: DockerHost, name: string, net: string, extra: string[] = []) =>
    d.mustDocker([
      'run',
      '-d',
      '--network',
      net,
      ...extra,
      '--name',
      name,
      BUSYBOX_IMAGE,
      'sleep',
      '3600',
    ])
  const ipOf = (d: DockerHost, c: string, net: string) =>
    d.mustDocker(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, c])
  /** A stub resolver in the container's netns asking 127.0.0.11:53, as its programs do. */
  const clientIn = async (d: DockerHost, c: string) => {
    const client = await dnsClientIn(`/proc/${await d.containerPid(c)}/ns/net`)
    clients.push(client)
    return client
  }

  test('docker exec bbox2 ping bbox1 across hosts; an alias too; the name resolves soon after docker run', async () => {
    await run(dh[1]!, 'bbox2', 'ov_net1')
    const q = await clientIn(dh[1]!, 'bbox2')
    const t0 = performance.now()
    await run(dh[0]!, 'bbox1', 'ov_net1', ['--network-alias', 'web'])
    const ran = performance.now()
    const ip1 = await ipOf(dh[0]!, 'bbox1', 'ov_net1')
    // Docker's resolver, then weft: 127.0.0.11 inside bbox2 answers bbox1 (on host 1) with its address
    const seen = await waitFor(async () => (await q.query('bbox1')).data.includes(ip1), {
      what: 'bbox1 resolving in bbox2',
      timeoutMs: 10_000,
      intervalMs: 5,
    })
    expect(seen).toBe(true)
    console.log(
      `bbox1 resolvable on the other host ${(performance.now() - ran).toFixed(0)} ms after its docker run returned (run took ${(ran - t0).toFixed(0)} ms)`,
    )
    const ping = await dh[1]!.docker(['exec', 'bbox2', 'ping', '-c', '1', '-W', '2', 'bbox1'])
    expect(ping.stdout + ping.stderr).toContain(`(${ip1})`)
    expect(ping.code).toBe(0)
    const alias = await dh[1]!.docker(['exec', 'bbox2', 'ping', '-c', '1', '-W', '2', 'web'])
    expect(alias.stdout + alias.stderr).toContain(`(${ip1})`)
    expect(alias.code).toBe(0)
    // latency of one name through both resolvers
    const ms: number[] = []
    for (let i = 0; i < 200; i++) {
      const r = await q.query('bbox1')
      expect(r.data).toEqual([ip1])
      ms.push(r.ms)
    }
    ms.sort((a, b) => a - b)
    console.log(
      `bbox1 from bbox2 (Docker's resolver, then weft's): p50 ${ms[100]!.toFixed(2)} ms, p99 ${ms[198]!.toFixed(2)} ms over 200 queries`,
    )
  }, 60_000)

  test('a name of another network does not resolve; it does for a container in that network', async () => {
    await run(dh[0]!, 'bbox3', 'ov_net2')
    await run(dh[1]!, 'bbox4', 'ov_net2')
    const ip3 = await ipOf(dh[0]!, 'bbox3', 'ov_net2')
    const inNet2 = await clientIn(dh[1]!, 'bbox4')
    expect(
      await waitFor(async () => (await inNet2.query('bbox3')).data.includes(ip3), {
        what: 'bbox3 resolving in bbox4 (same network)',
        timeoutMs: 10_000,
        intervalMs: 5,
      }),
    ).toBe(true)
    const inNet1 = await clientIn(dh[1]!, 'bbox2')
    const r = await inNet1.query('bbox3')
    expect(r.rcode).toBe('NXDOMAIN')
    expect(r.data).toEqual([])
    const ping = await dh[1]!.docker(['exec', 'bbox2', 'ping', '-c', '1', '-W', '1', 'bbox3'])
    expect(ping.code).not.toBe(0)
  }, 60_000)

  test('a name outside the overlay is forwarded to the host resolver (dnsmasq on the underlay)', async () => {
    const q = await clientIn(dh[1]!, 'bbox2')
    const r = await q.query(OUTSIDE.name)
    expect(r.rcode).toBe('NOERROR')
    expect(r.data).toEqual([OUTSIDE.ip])
    expect(upstream.asked()).toContain(OUTSIDE.name)
  }, 30_000)

  test('the resolver weft put into a container: its upstream /32 on lo and a listener on port 53 there', async () => {
    const pid = await dh[1]!.containerPid('bbox2')
    const addrs = await runIn(`/proc/${pid}/ns/net`, [
      'ip',
      '-4',
      '-o',
      'addr',
      'show',
      'dev',
      'lo',
    ])
    expect(addrs.stdout).toContain(`${upstream.ip}/32`)
    const udp = await runIn(`/proc/${pid}/ns/net`, ['ss', '-lnu'])
    expect(udp.stdout).toContain(`${upstream.ip}:53`)
    // how Docker's resolver gets 127.0.0.11:53 (its own DNAT inside the container, --iptables=false or not)
    const nat = await runIn(`/proc/${pid}/ns/net`, ['iptables', '-t', 'nat', '-S'])
    console.log(`nat rules in bbox2:\n${nat.stdout}${nat.stderr}`)
  }, 30_000)

  test('while the agent of the querying host restarts, its names stop for a measured gap only', async () => {
    const q = await clientIn(dh[1]!, 'bbox2')
    const ip1 = await ipOf(dh[0]!, 'bbox1', 'ov_net1')
    expect((await q.query('bbox1')).data).toEqual([ip1])
    const a = agents[1]!
    let failedSince: number | undefined
    let gap = 0
    let probing = true
    const probe = (async () => {
      while (probing) {
        const r = await q.query('bbox1', undefined, 200)
        const now = performance.now()
        if (!r.data.includes(ip1)) failedSince ??= now
        else if (failedSince !== undefined) {
          gap += now - failedSince
          failedSince = undefined
        }
        await Bun.sleep(5)
      }
    })()
    const t0 = performance.now()
    await a.kill('SIGTERM')
    await a.restart()
    const up = performance.now()
    await waitFor(async () => (await q.query('bbox1')).data.includes(ip1), {
      what: 'bbox1 resolving in bbox2 after the agent restart',
      timeoutMs: 10_000,
      intervalMs: 5,
    })
    probing = false
    await probe
    if (failedSince !== undefined) gap += performance.now() - failedSince
    console.log(
      `agent restart (stop to API up ${(up - t0).toFixed(0)} ms): bbox1 unanswered in bbox2 for ${gap.toFixed(0)} ms`,
    )
    expect(gap).toBeLessThan(up - t0 + 1000)
    // and the resolver is back in place
    const pid = await dh[1]!.containerPid('bbox2')
    expect((await runIn(`/proc/${pid}/ns/net`, ['ss', '-lnu'])).stdout).toContain(
      `${upstream.ip}:53`,
    )
  }, 60_000)

  test('after docker rm -f bbox1 its name stops resolving on the other host within 1 s', async () => {
    const q = await clientIn(dh[1]!, 'bbox2')
    const ip1 = await ipOf(dh[0]!, 'bbox1', 'ov_net1')
    expect((await q.query('bbox1')).data).toEqual([ip1])
    await dh[0]!.mustDocker(['rm', '-f', 'bbox1'])
    const removed = performance.now()
    let last = ''
    await waitFor(
      async () => {
        const r = await q.query('bbox1')
        last = `${r.rcode} ${r.data.join(',')}`
        return r.rcode === 'NXDOMAIN'
      },
      { what: 'bbox1 NXDOMAIN in bbox2', timeoutMs: 5000, intervalMs: 5 },
    )
    const after = performance.now() - removed
    console.log(
      `bbox1 NXDOMAIN on the other host ${after.toFixed(0)} ms after docker rm -f returned (before: ${last})`,
    )
    expect(after).toBeLessThanOrEqual(1000)
    expect((await q.query('web')).rcode).toBe('NXDOMAIN')
  }, 30_000)
})
