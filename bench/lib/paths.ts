// The way out and names, measured in the same run as the data plane (issue 15 item 5, issue
// 18 item 4), on each setup's own topology:
//   nat        client container → a server in an "outside" namespace on the underlay bridge
//              that runs no weft, through its host's masquerade (routed: plain routing to it)
//   published  outside → host 2's address and a published port (weft network connect
//              --publish) → a container on host 2 (routed: straight to the routed server)
//   names      queries from the client container to its resolver at 127.0.0.11: weft's names
//              (kernel, bpf), a plain dnsmasq there in routed mode
// The outside namespace is the bench's own, on its own underlay bridge: every packet stays
// inside the setup's namespaces. Its servers are stopped by PID, its namespace removed, with
// the topology.
import { nsPath, run, runIn, mustRunIn, setWireMode, waitFor } from '../../test/harness/index.ts'
import { dnsClientIn, type DnsClient } from '../../test/dns/client.ts'
import { DNSMASQ } from '../../test/dns/upstream.ts'
import { idleLatencies, loadedRun } from './names-load.ts'
import { startIn, type Started } from './procs.ts'
import type { Mode, Peer, Setup } from './setups.ts'
import { percentile } from './stats.ts'
import { IPERF_PORT, latencyRun, SOCKPERF_PORT, startServers, tcpRun, udpRun } from './tools.ts'

/** The outside namespace's address on the underlay (the hosts are .1 and .2). */
export const OUTSIDE_IP = '198.18.0.100'
/** Host ports on host 2 that the published container's iperf3 and sockperf are reached on. */
export const PUBLISHED_IPERF_PORT = 15201
export const PUBLISHED_SOCKPERF_PORT = 21111
/** The resolver address inside a sandbox (weft's, and the routed baseline's dnsmasq). */
const RESOLVER = '127.0.0.11'
/** Name load: sockets in the client container, queries in flight per socket (as bench/dns.ts). */
const NAME_SOCKETS = 4
const NAME_WINDOW = 32

export type PathKind = 'nat' | 'published' | 'names'
export const PATH_KINDS: readonly PathKind[] = ['nat', 'published', 'names']

const NO_WAY_OUT =
  'the kernel datapath has no way out of the overlay (no default route, no NAT; --publish is refused): the way out is built in the bpf datapath only'
const NOT_DOCKER =
  "not measured in the docker mode (Docker's way out is its docker_gwbridge, not part of this comparison)"

/** Whether a mode has a path: true, or why it has not. */
export function pathSupport(mode: Mode): Record<PathKind, true | string> {
  if (mode === 'docker') return { nat: NOT_DOCKER, published: NOT_DOCKER, names: NOT_DOCKER }
  if (mode === 'kernel') return { nat: NO_WAY_OUT, published: NO_WAY_OUT, names: true }
  return { nat: true, published: true, names: true }
}

/** The one reason a mode lacks some paths (for the report), or undefined when it has them all. */
export function pathNote(mode: Mode): string | undefined {
  const why = Object.values(pathSupport(mode)).filter((v) => v !== true)
  return why.length ? String(why[0]) : undefined
}

export interface WayIn {
  /** Namespace of the server the outside reaches (for iperf3's idle check). */
  serverNs: string
  /** Address and ports the outside dials. */
  ip: string
  iperfPort: number
  sockperfPort: number
}

export interface PathsSetup {
  mode: Mode
  /** The outside namespace and its servers (modes with a way out). */
  outside?: Peer
  wayIn?: WayIn
  /** Resolver clients in the client container and the names they ask for (modes with names). */
  names?: { clients: DnsClient[]; names: string[] }
}

/** Build the paths a setup's mode has, on its topology; torn down with it. */
export async function createPaths(s: Setup): Promise<PathsSetup> {
  const can = pathSupport(s.mode)
  const p: PathsSetup = { mode: s.mode }
  const servers: Started[] = []
  const outsideNs = `${s.topo.prefix}-out`
  let outsideMade = false
  s.topo.track(async () => {
    for (const c of p.names?.clients ?? []) c.close()
    for (const srv of servers) await srv.stop()
    if (outsideMade) await run(['ip', 'netns', 'del', outsideNs])
  })
  if (can.nat === true || can.published === true) {
    const add = await run(['ip', 'netns', 'add', outsideNs])
    if (add.code !== 0) throw new Error(`ip netns add ${outsideNs}: ${add.stderr.trim()}`)
    outsideMade = true
    p.outside = await plumbOutside(s, outsideNs)
    servers.push(...(await startServers(p.outside.ns, p.outside.ip)))
    if (s.mode === 'routed') {
      await routeOutside(s)
      p.wayIn = {
        serverNs: s.remote.ns,
        ip: s.remote.ip,
        iperfPort: IPERF_PORT,
        sockperfPort: SOCKPERF_PORT,
      }
    } else {
      const pub = await publishedServer(s)
      servers.push(...(await startServers(pub.ns, pub.ip)))
      p.wayIn = {
        serverNs: pub.ns,
        ip: s.topo.hosts[1]!.underlay.ip,
        iperfPort: PUBLISHED_IPERF_PORT,
        sockperfPort: PUBLISHED_SOCKPERF_PORT,
      }
    }
    await waitTcp(s.client, p.outside.ip, IPERF_PORT, `${s.mode}: client → outside (way out)`)
    await waitTcp(p.outside.ns, p.wayIn.ip, p.wayIn.iperfPort, `${s.mode}: outside → way in`)
  }
  if (can.names === true) {
    const records: [string, string][] = [
      [s.remote.ns, s.remote.ip],
      [s.local.ns, s.local.ip],
    ]
    if (s.mode === 'routed') servers.push(await startDnsmasq(s.client, records))
    p.names = { clients: [], names: records.map(([n]) => n) }
    for (let i = 0; i < NAME_SOCKETS; i++)
      p.names.clients.push(await dnsClientIn(nsPath(s.client), RESOLVER))
    const c = p.names.clients[0]!
    for (const [name, ip] of records)
      await waitFor(async () => (await c.query(name)).data[0] === ip, {
        what: `${s.mode}: ${name} resolves to ${ip} at ${RESOLVER} in the client`,
        timeoutMs: 10_000,
        intervalMs: 50,
      })
  }
  return p
}

/** The "outside": a namespace that runs no weft, on the setup's underlay bridge. */
async function plumbOutside(s: Setup, ns: string): Promise<Peer> {
  await mustRunIn(ns, ['ip', 'link', 'set', 'lo', 'up'])
  const ul = s.topo.underlayNs
  await mustRunIn(ul, [
    'ip',
    'link',
    'add',
    'pout',
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'netns',
    ns,
  ])
  await mustRunIn(ul, ['ip', 'link', 'set', 'pout', 'master', 'br0', 'up'])
  await mustRunIn(ns, ['ip', 'addr', 'add', `${OUTSIDE_IP}/24`, 'dev', 'eth0'])
  await mustRunIn(ns, ['ip', 'link', 'set', 'eth0', 'up'])
  if (s.underlay === 'wire') {
    // like the hosts' underlay ports (test/harness/topology.ts): segment before the "wire",
    // aggregate after it on the namespace's end only
    await setWireMode(ns, 'eth0', true)
    await setWireMode(ul, 'pout', false)
  }
  return { ns, ip: OUTSIDE_IP }
}

/** Routed mode: plain routes both ways between the routed containers and the outside, no NAT. */
async function routeOutside(s: Setup): Promise<void> {
  const gw = (ip: string) => ip.replace(/\.\d+$/, '.1')
  const [h1, h2] = [s.topo.hosts[0]!.underlay.ip, s.topo.hosts[1]!.underlay.ip]
  const ns = `${s.topo.prefix}-out`
  for (const [peerIp, via] of [
    [s.remote.ip, h2],
    [s.local.ip, h1],
    [await addressOf(s.client), h1],
  ] as const)
    await mustRunIn(ns, ['ip', 'route', 'add', peerIp.replace(/\.\d+$/, '.0/24'), 'via', via])
  for (const c of [s.client, s.remote.ns]) {
    const ip = await addressOf(c)
    await mustRunIn(c, ['ip', 'route', 'add', '198.18.0.0/24', 'via', gw(ip)])
  }
}

/** The IPv4 address of eth0 in a container. */
async function addressOf(ns: string): Promise<string> {
  const j = JSON.parse((await mustRunIn(ns, ['ip', '-j', '-4', 'addr', 'show', 'eth0'])).stdout)
  const ip = j[0]?.addr_info?.[0]?.local as string | undefined
  if (!ip) throw new Error(`no IPv4 address on eth0 in ${ns}`)
  return ip
}

/** Weft modes: a container on host 2 connected with --publish for iperf3 (tcp) and sockperf (udp). */
async function publishedServer(s: Setup): Promise<Peer> {
  const ns = (await s.topo.addContainer(1)).ns
  const r = await s.agents[1]!.api('POST', '/v1/networks/bench/connect', {
    sandbox: ns,
    publish: [
      { proto: 'tcp', hostPort: PUBLISHED_IPERF_PORT, containerPort: IPERF_PORT },
      { proto: 'udp', hostPort: PUBLISHED_SOCKPERF_PORT, containerPort: SOCKPERF_PORT },
    ],
  })
  if (r.status !== 201)
    throw new Error(`connect ${ns} --publish: ${r.status} ${JSON.stringify(r.body)}`)
  return { ns, ip: r.body.ip as string }
}

/**
 * A TCP connection from `ns` to ip:port succeeds (polled: a first SYN can be lost while the
 * other end resolves a MAC). iperf3's server shrugs off a connection that sends no test.
 */
async function waitTcp(ns: string, ip: string, port: number, what: string): Promise<void> {
  const probe = `import socket; socket.create_connection(('${ip}', ${port}), 1).close()`
  await waitFor(async () => (await runIn(ns, ['python3', '-c', probe])).code === 0, {
    what: `${what}: TCP connect to ${ip}:${port}`,
    timeoutMs: 15_000,
    intervalMs: 200,
  })
}

/** Routed mode's resolver: a plain dnsmasq on the client's 127.0.0.11 answering the same names. */
async function startDnsmasq(ns: string, records: [string, string][]): Promise<Started> {
  const p = startIn(ns, [
    DNSMASQ,
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--no-poll',
    `--listen-address=${RESOLVER}`,
    '--bind-interfaces',
    '--pid-file',
    '--user=root',
    '--group=root',
    '--log-facility=-',
    ...records.map(([name, ip]) => `--host-record=${name},${ip}`),
  ])
  await waitFor(
    async () => (await runIn(ns, ['ss', '-Hlnu', `sport = 53`])).stdout.includes(`${RESOLVER}:53`),
    { what: `dnsmasq on ${RESOLVER}:53 in ${ns}`, timeoutMs: 5000 },
  ).catch(async (e) => {
    await p.stop()
    throw new Error(`${e.message}\ndnsmasq stderr: ${p.stderr()}`)
  })
  return p
}

// --- the tests ---------------------------------------------------------------------------

export interface PathTest {
  kind: PathKind
  id: string
  run(p: PathsSetup, s: Setup): Promise<{ figures: Record<string, number>; label: string }>
}

const us = (ms: number) => ms * 1000

/** The tests of the paths, `seconds` per figure; names: `idleQueries` one at a time. */
export function pathTests(o: { seconds: number; idleQueries: number }): PathTest[] {
  const T = o.seconds
  const outside = (p: PathsSetup) => {
    if (!p.outside) throw new Error(`${p.mode}: no outside namespace`)
    return p.outside
  }
  const wayIn = (p: PathsSetup) => {
    if (!p.wayIn) throw new Error(`${p.mode}: no way in`)
    return p.wayIn
  }
  return [
    {
      kind: 'nat',
      id: 'tcp1Gbps',
      async run(p, s) {
        const out = outside(p)
        const r = await tcpRun(s.client, out.ns, out.ip, { seconds: T })
        return {
          figures: { tcp1Gbps: r.gbps, tcp1Retransmits: r.retransmits },
          label: `way out TCP 1 stream ${r.gbps.toFixed(2)} Gbit/s, ${r.retransmits} retr`,
        }
      },
    },
    {
      kind: 'nat',
      id: 'udp64Kpps',
      async run(p, s) {
        const out = outside(p)
        const r = await udpRun(s.client, out.ns, out.ip, T)
        return {
          figures: { udp64Kpps: r.rxPps / 1000, udp64LossPercent: r.lostPercent },
          label: `way out UDP 64 B ${(r.rxPps / 1000).toFixed(0)} kpps received (${r.lostPercent.toFixed(1)}% lost)`,
        }
      },
    },
    {
      kind: 'nat',
      id: 'latP99us',
      async run(p, s) {
        const r = await latencyRun(s.client, outside(p).ip, T)
        return {
          figures: { latP50us: r.p50us, latP99us: r.p99us },
          label: `way out RTT p50 ${r.p50us.toFixed(1)} µs p99 ${r.p99us.toFixed(1)} µs`,
        }
      },
    },
    {
      kind: 'published',
      id: 'tcp1Gbps',
      async run(p) {
        const w = wayIn(p)
        const r = await tcpRun(outside(p).ns, w.serverNs, w.ip, { seconds: T, port: w.iperfPort })
        return {
          figures: { tcp1Gbps: r.gbps, tcp1Retransmits: r.retransmits },
          label: `published port TCP 1 stream ${r.gbps.toFixed(2)} Gbit/s, ${r.retransmits} retr`,
        }
      },
    },
    {
      kind: 'published',
      id: 'latP99us',
      async run(p) {
        const w = wayIn(p)
        const r = await latencyRun(outside(p).ns, w.ip, T, w.sockperfPort)
        return {
          figures: { latP50us: r.p50us, latP99us: r.p99us },
          label: `published port RTT p50 ${r.p50us.toFixed(1)} µs p99 ${r.p99us.toFixed(1)} µs`,
        }
      },
    },
    {
      kind: 'names',
      id: 'names',
      async run(p) {
        if (!p.names) throw new Error(`${p.mode}: no resolver clients`)
        const { clients, names } = p.names
        const idle = await idleLatencies(clients[0]!, names, o.idleQueries)
        const load = await loadedRun(clients, names, T, NAME_WINDOW)
        if (!load.answered)
          throw new Error(`names: nothing answered under load (${load.failed} failed)`)
        const f = {
          namesQps: load.answersPerSecond,
          namesFailed: load.failed,
          namesIdleP50us: us(percentile(idle, 50)),
          namesIdleP99us: us(percentile(idle, 99)),
          namesLoadedP50us: us(percentile(load.latencies, 50)),
          namesLoadedP99us: us(percentile(load.latencies, 99)),
        }
        return {
          figures: f,
          label: `names ${f.namesQps.toFixed(0)} answers/s (${NAME_SOCKETS}×${NAME_WINDOW} in flight, ${load.failed} failed); idle p50 ${f.namesIdleP50us.toFixed(0)} µs p99 ${f.namesIdleP99us.toFixed(0)} µs; loaded p99 ${f.namesLoadedP99us.toFixed(0)} µs`,
        }
      },
    },
  ]
}
