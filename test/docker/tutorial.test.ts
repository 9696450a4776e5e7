// The multi-host Docker tutorial, replayed with weft: two real dockerd hosts (own daemons in
// host namespaces, see test/harness/docker.ts), a real weft agent per host serving the Docker
// plugin (`weft agent --docker`), real containers and pings. Needs root, BPF and docker.io.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import {
  BUSYBOX_IMAGE, createTopology, dockerLeaks, leaks, ping, startDockerHost, waitFor, type DockerHost, type Topology,
} from '../harness/index.ts'
import { startAgents, type RunningAgent } from '../agent/agents.ts'

describe('docker network create -d weft on two dockerd hosts', () => {
  let topo: Topology
  const dh: DockerHost[] = []
  let agents: RunningAgent[]

  beforeAll(async () => {
    topo = await createTopology({ hosts: 2, containersPerHost: 1 })
    // one after the other: two daemons starting at once on two cores only measure contention
    for (let i = 0; i < 2; i++) dh.push(await startDockerHost(topo, i))
    agents = await startAgents(topo, {
      hostArgs: (host) => {
        const d = dh.find((x) => x.host === host)!
        return ['--docker', `unix://${d.socket}`, '--docker-plugin-socket', join(d.pluginsDir, 'weft.sock')]
      },
    })
  }, 180_000)

  afterAll(async () => {
    const prefix = topo.prefix
    // containers go while the agents still answer Docker's Leave/DeleteEndpoint calls; then the
    // agents (their command lines name the docker directories, which dh.stop() counts as its own)
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

  const names = async (d: DockerHost) => (await d.mustDocker(['network', 'ls', '--filter', 'driver=weft', '--format', '{{.Name}} {{.Driver}} {{.Scope}}'])).split('\n').filter(Boolean)
  const ipOf = async (d: DockerHost, c: string, net: string) =>
    d.mustDocker(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, c])
  const run = (d: DockerHost, name: string, net: string, extra: string[] = []) =>
    d.mustDocker(['run', '-d', '--network', net, ...extra, '--name', name, BUSYBOX_IMAGE, 'sleep', '3600'])
  const dockerPing = async (d: DockerHost, c: string, ip: string) =>
    (await d.docker(['exec', c, 'ping', '-c', '1', '-W', '1', ip])).code === 0
  const weftEndpoints = async (a: RunningAgent, net: string) => {
    const r = await a.api('GET', `/v1/networks/${net}`)
    if (r.status !== 200) return []
    return Object.values(r.body.Containers as Record<string, { Name: string; IPv4Address: string; Node: string }>)
      .map((c) => ({ name: c.Name, ip: c.IPv4Address.split('/')[0]!, node: c.Node }))
  }

  test('created on host 1, `docker network ls` on host 2 shows it (driver weft, scope local)', async () => {
    await dh[0]!.mustDocker(['network', 'create', '-d', 'weft', '--ipam-driver', 'weft', '--subnet', '10.50.0.0/24', 'ov_net1'])
    expect(await names(dh[0]!)).toEqual(['ov_net1 weft local'])
    const seen = await waitFor(async () => (await names(dh[1]!)).includes('ov_net1 weft local'), { what: 'ov_net1 on host 2', timeoutMs: 10_000 })
    expect(seen).toBe(true)
    const w = await agents[1]!.api('GET', '/v1/networks/ov_net1')
    expect(w.status).toBe(200)
    expect(w.body.IPAM.Config[0].Subnet).toBe('10.50.0.0/24')
    const sub = await dh[1]!.mustDocker(['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}} {{.IPAM.Driver}}', 'ov_net1'])
    expect(sub).toBe('10.50.0.0/24 weft')
  }, 30_000)

  test('bbox1 on host 1 and bbox2 on host 2 ping each other; endpoints carry the container names', async () => {
    await run(dh[0]!, 'bbox1', 'ov_net1')
    await run(dh[1]!, 'bbox2', 'ov_net1')
    const ip1 = await ipOf(dh[0]!, 'bbox1', 'ov_net1')
    const ip2 = await ipOf(dh[1]!, 'bbox2', 'ov_net1')
    expect(ip1).not.toBe(ip2)
    await waitFor(() => dockerPing(dh[1]!, 'bbox2', ip1), { what: `bbox2 -> bbox1 (${ip1})`, timeoutMs: 10_000 })
    await waitFor(() => dockerPing(dh[0]!, 'bbox1', ip2), { what: `bbox1 -> bbox2 (${ip2})`, timeoutMs: 10_000 })
    const eps = await waitFor(async () => {
      const e = await weftEndpoints(agents[0]!, 'ov_net1')
      return e.length === 2 && e.every((x) => x.name.startsWith('bbox')) ? e : undefined
    }, { what: 'weft endpoints named after the containers' })
    expect(eps.map((e) => `${e.name} ${e.ip}`).sort()).toEqual([`bbox1 ${ip1}`, `bbox2 ${ip2}`])
    // eth0 carries weft's MAC for the address
    const mac = await dh[0]!.mustDocker(['exec', 'bbox1', 'cat', '/sys/class/net/eth0/address'])
    expect(mac).toBe(`02:42:${ip1.split('.').map((b) => Number(b).toString(16).padStart(2, '0')).join(':')}`)
  }, 60_000)
})
