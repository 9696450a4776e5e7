// One "setup" per (underlay, mode): two hosts on an underlay, a client container and a
// same-host peer on host 1, a remote peer on host 2, servers (iperf3, sockperf) running in
// both peers. Modes differ only in how the containers are connected:
//   routed  plain routing through the hosts, no encapsulation (the physical limit here)
//   kernel  weft agents with --datapath kernel (bridge + vxlan device, Docker's layout)
//   bpf     weft agents with --datapath bpf (TC eBPF encap/decap)
//   docker  Docker's own overlay driver (Swarm, attachable overlay; ./docker-setup.ts)
import {
  createTopology,
  mustRunIn,
  ping,
  waitFor,
  type Topology,
} from '../../test/harness/index.ts'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startAgents, type RunningAgent } from '../../test/agent/agents.ts'
import { startServers } from './tools.ts'
import type { Started } from './procs.ts'
import { createDockerSetup } from './docker-setup.ts'
import { OUTSIDE_IP } from './paths.ts'

export type Mode = 'routed' | 'kernel' | 'bpf' | 'docker'
export type Underlay = 'wire' | 'veth'
export const MODES: readonly Mode[] = ['routed', 'kernel', 'bpf', 'docker']
export const UNDERLAYS: readonly Underlay[] = ['wire', 'veth']

export interface Peer {
  ns: string
  ip: string
}

export interface Setup {
  mode: Mode
  underlay: Underlay
  topo: Topology
  /** Client container on host 1. */
  client: string
  /** Peer container on host 2 (across the underlay). */
  remote: Peer
  /** Peer container on host 1 (same host as the client). */
  local: Peer
  agents: RunningAgent[]
  servers: Started[]
  destroy(): Promise<void>
}

/** Live setups and topologies, so a Ctrl-C handler can tear everything down. */
export const liveTopologies = new Set<Topology>()

export async function destroyTopology(topo: Topology): Promise<void> {
  liveTopologies.delete(topo)
  await topo.destroy()
}

export async function createSetup(mode: Mode, underlay: Underlay): Promise<Setup> {
  if (mode === 'docker') return createDockerSetup(underlay)
  const topo = await createTopology({ hosts: 2, containersPerHost: 0, wire: underlay === 'wire' })
  liveTopologies.add(topo)
  try {
    const client = (await topo.addContainer(0)).ns
    const localNs = (await topo.addContainer(0)).ns
    const remoteNs = (await topo.addContainer(1)).ns
    let agents: RunningAgent[] = []
    let ips: { client: string; local: string; remote: string }
    if (mode === 'routed') {
      ips = await plumbRouted(topo, client, localNs, remoteNs)
    } else {
      agents = await startAgents(topo, {
        datapath: mode as 'kernel' | 'bpf',
        ttl: '10s',
        extraArgs: ['--resolv-conf', benchResolvConf(topo)],
      })
      const net = await agents[0]!.api('POST', '/v1/networks', {
        name: 'bench',
        subnet: '10.0.1.0/24',
      })
      if (net.status !== 201)
        throw new Error(`create network: ${net.status} ${JSON.stringify(net.body)}`)
      const connect = async (agent: RunningAgent, sandbox: string) => {
        const r = await agent.api('POST', '/v1/networks/bench/connect', { sandbox })
        if (r.status !== 201)
          throw new Error(`connect ${sandbox}: ${r.status} ${JSON.stringify(r.body)}`)
        return r.body.ip as string
      }
      ips = {
        client: await connect(agents[0]!, client),
        local: await connect(agents[0]!, localNs),
        remote: await connect(agents[1]!, remoteNs),
      }
    }
    for (const [what, ip] of [
      ['remote', ips.remote],
      ['same-host', ips.local],
    ] as const) {
      await waitFor(
        async () => (await ping(client, ip, { count: 1, timeoutMs: 1000 })).received === 1,
        {
          what: `${mode}: ping ${what} peer ${ip} from the client`,
          timeoutMs: 10_000,
          intervalMs: 100,
        },
      )
    }
    const servers = [
      ...(await startServers(remoteNs, ips.remote)),
      ...(await startServers(localNs, ips.local)),
    ]
    return {
      mode,
      underlay,
      topo,
      client,
      remote: { ns: remoteNs, ip: ips.remote },
      local: { ns: localNs, ip: ips.local },
      agents,
      servers,
      async destroy() {
        for (const s of servers) await s.stop()
        await destroyTopology(topo)
      },
    }
  } catch (e) {
    await destroyTopology(topo).catch(() => {})
    throw e
  }
}

/**
 * The agents' upstream resolver: the outside namespace's address on the bench's own underlay
 * (./paths.ts), so a name weft's resolver does not know is never forwarded off the machine.
 */
function benchResolvConf(topo: Topology): string {
  const dir = mkdtempSync(join(tmpdir(), `weft-${topo.prefix}-bench-`))
  topo.track(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'resolv.conf')
  writeFileSync(
    path,
    `# the bench's outside namespace (bench/lib/paths.ts)\nnameserver ${OUTSIDE_IP}\n`,
  )
  return path
}

/**
 * Routed mode: each container gets a veth to its host and a /24 of its own; hosts forward
 * and route the other host's container subnets via its underlay address. No overlay, MTU 1500.
 */
async function plumbRouted(topo: Topology, client: string, local: string, remote: string) {
  const h1 = topo.hosts[0]!
  const h2 = topo.hosts[1]!
  const attach = async (hostNs: string, ns: string, dev: string, n: number) => {
    await mustRunIn(hostNs, [
      'ip',
      'link',
      'add',
      dev,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      ns,
    ])
    await mustRunIn(hostNs, ['ip', 'addr', 'add', `10.0.${n}.1/24`, 'dev', dev])
    await mustRunIn(hostNs, ['ip', 'link', 'set', dev, 'up'])
    await mustRunIn(ns, ['ip', 'addr', 'add', `10.0.${n}.2/24`, 'dev', 'eth0'])
    await mustRunIn(ns, ['ip', 'link', 'set', 'eth0', 'up'])
    await mustRunIn(ns, ['ip', 'route', 'add', '10.0.0.0/16', 'via', `10.0.${n}.1`])
    return `10.0.${n}.2`
  }
  const ips = {
    client: await attach(h1.ns, client, 'rt1', 1),
    local: await attach(h1.ns, local, 'rt3', 3),
    remote: await attach(h2.ns, remote, 'rt2', 2),
  }
  for (const h of [h1, h2]) await mustRunIn(h.ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1'])
  for (const n of [1, 3])
    await mustRunIn(h2.ns, [
      'ip',
      'route',
      'add',
      `10.0.${n}.0/24`,
      'via',
      h1.underlay.ip,
      'dev',
      'ul0',
    ])
  await mustRunIn(h1.ns, ['ip', 'route', 'add', '10.0.2.0/24', 'via', h2.underlay.ip, 'dev', 'ul0'])
  return ips
}
