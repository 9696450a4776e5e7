// The `docker` mode: Docker's own overlay driver, for comparison with weft's datapaths.
// Two Debian docker.io daemons, one per host namespace of the setup's own topology (so their
// VXLAN on 4789 never meets weft's agents), joined in a Swarm over the underlay; an attachable
// overlay network; a busybox container per peer. The load generators are the host's iperf3
// and sockperf, run inside each container's network namespace (nsenter --net=/proc/PID/ns/net).
// Every daemon is the bench's own (test/harness/docker.ts: own sockets, data roots, --dns inside
// its namespaces) and is stopped by PID and removed with the topology.
import {
  BUSYBOX_IMAGE,
  createTopology,
  ping,
  requireDocker,
  startDockerHost,
  waitFor,
  type DockerHost,
  type Topology,
} from '../../test/harness/index.ts'
import { startServers } from './tools.ts'
import { destroyTopology, liveTopologies, type Setup, type Underlay } from './setups.ts'

/** The overlay's subnet: the same container addressing as the weft modes. */
const SUBNET = '10.0.1.0/24'
const NETWORK = 'bench'

/** Topologies of docker setups: torn down before any other (see teardownOrder). */
const dockerTopologies = new WeakSet<Topology>()

/**
 * Docker topologies first: any topology's destroy() stops every process the harness started
 * (liveProcesses(), all topologies), and a dockerd stopped before its own teardown can no
 * longer remove its containers, so their shims and cgroups would be left behind.
 */
export function teardownOrder<T extends Topology>(topos: Iterable<T>): T[] {
  return [...topos].sort(
    (a, b) => Number(dockerTopologies.has(b)) - Number(dockerTopologies.has(a)),
  )
}

/**
 * Docker first, for the same reason: a docker setup that fails tears its topology down, and
 * with it every harness process, so it must not have weft agents of other setups to take along.
 */
export function setupOrder<M extends string>(modes: readonly M[]): M[] {
  return [...modes].sort((a, b) => Number(b === 'docker') - Number(a === 'docker'))
}

export async function createDockerSetup(underlay: Underlay): Promise<Setup> {
  requireDocker() // before any namespace exists
  const topo = await createTopology({ hosts: 2, containersPerHost: 0, wire: underlay === 'wire' })
  liveTopologies.add(topo)
  dockerTopologies.add(topo)
  try {
    // Swarm refuses --live-restore; the harness's other defaults (no bridge, iptables,
    // forwarding or masquerade in the host namespace) leave the overlay working: the overlay
    // driver keeps its bridge and vxlan device in a namespace of its own
    const opts = { liveRestore: false, startTimeoutMs: 60_000 }
    const [d1, d2] = await Promise.all([
      startDockerHost(topo, 0, opts),
      startDockerHost(topo, 1, opts),
    ])
    await joinSwarm(d1!, d2!)
    await d1!.mustDocker([
      'network',
      'create',
      '--driver',
      'overlay',
      '--attachable',
      '--subnet',
      SUBNET,
      NETWORK,
    ])
    const run = async (d: DockerHost, name: string) => {
      await d.mustDocker([
        'run',
        '-d',
        '--name',
        name,
        '--network',
        NETWORK,
        BUSYBOX_IMAGE,
        'sleep',
        '1000000',
      ])
      const pid = await d.containerPid(name)
      const ip = await d.mustDocker([
        'inspect',
        '-f',
        `{{(index .NetworkSettings.Networks "${NETWORK}").IPAddress}}`,
        name,
      ])
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip))
        throw new Error(`container ${name}: no overlay IP (${ip})`)
      return { ns: `/proc/${pid}/ns/net`, ip }
    }
    const client = await run(d1!, 'client')
    const local = await run(d1!, 'local')
    const remote = await run(d2!, 'remote')
    for (const [what, ip] of [
      ['remote', remote.ip],
      ['same-host', local.ip],
    ] as const) {
      await waitFor(
        async () => (await ping(client.ns, ip, { count: 1, timeoutMs: 1000 })).received === 1,
        {
          what: `docker: ping ${what} peer ${ip} from the client`,
          timeoutMs: 20_000,
          intervalMs: 100,
        },
      )
    }
    const servers = [
      ...(await startServers(remote.ns, remote.ip)),
      ...(await startServers(local.ns, local.ip)),
    ]
    return {
      mode: 'docker',
      underlay,
      topo,
      client: client.ns,
      remote,
      local,
      agents: [],
      servers,
      async destroy() {
        for (const s of servers) await s.stop()
        await destroyTopology(topo)
      },
    }
  } catch (e) {
    await destroyTopology(topo).catch((err: Error) =>
      process.stderr.write(`docker setup cleanup: ${err.message}\n`),
    )
    throw e
  }
}

/** Host 1 inits a Swarm on its underlay address, host 2 joins it as a worker. */
async function joinSwarm(manager: DockerHost, worker: DockerHost): Promise<void> {
  const addr = manager.host.underlay.ip
  await manager.mustDocker([
    'swarm',
    'init',
    '--advertise-addr',
    addr,
    '--listen-addr',
    `${addr}:2377`,
  ])
  const token = await manager.mustDocker(['swarm', 'join-token', '-q', 'worker'])
  await worker.mustDocker([
    'swarm',
    'join',
    '--advertise-addr',
    worker.host.underlay.ip,
    '--token',
    token,
    `${addr}:2377`,
  ])
  await waitFor(
    async () =>
      (await manager.mustDocker(['node', 'ls', '--format', '{{.Status}}']))
        .split('\n')
        .filter((s) => s === 'Ready').length === 2,
    { what: 'both docker hosts Ready in the swarm', timeoutMs: 30_000, intervalMs: 200 },
  )
}
