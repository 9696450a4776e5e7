// The multi-host Docker tutorial, replayed with weft: three real dockerd hosts (own daemons in
// host namespaces, see test/harness/docker.ts), a real weft agent per host serving the Docker
// plugin (`weft agent --docker`), real containers and pings. Needs root, BPF and docker.io.
// Datapath: WEFT_TEST_DATAPATH (default bpf).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import {
  BUSYBOX_IMAGE,
  createTopology,
  dockerLeaks,
  leaks,
  ping,
  startDockerHost,
  stopDockerCluster,
  waitFor,
  type DockerHost,
  type Topology,
} from '../harness/index.ts'
import { startAgents, type RunningAgent } from '../agent/agents.ts'

const DATAPATH = (process.env.WEFT_TEST_DATAPATH ?? 'bpf') as 'bpf' | 'kernel'

const HOSTS = 3

describe(`docker network create -d weft on ${HOSTS} dockerd hosts (${DATAPATH} datapath)`, () => {
  let topo: Topology
  const dh: DockerHost[] = []
  let agents: RunningAgent[]

  beforeAll(async () => {
    topo = await createTopology({ hosts: HOSTS, containersPerHost: 1 })
    // one after the other: daemons starting at once on two cores only measure contention
    for (let i = 0; i < HOSTS; i++) dh.push(await startDockerHost(topo, i))
    agents = await startAgents(topo, {
      datapath: DATAPATH,
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
  }, 180_000)

  afterAll(async () => {
    const prefix = topo.prefix
    await stopDockerCluster(topo, dh, agents)
    expect(await leaks(prefix)).toEqual([])
    for (const d of dh) expect(dockerLeaks(d)).toEqual([])
  }, 180_000)

  const names = async (d: DockerHost) =>
    (
      await d.mustDocker([
        'network',
        'ls',
        '--filter',
        'driver=weft',
        '--format',
        '{{.Name}} {{.Driver}} {{.Scope}}',
      ])
    )
      .split('\n')
      .filter(Boolean)
  const ipOf = async (d: DockerHost, c: string, net: string) =>
    d.mustDocker(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, c])
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
  const dockerPing = async (d: DockerHost, c: string, ip: string) =>
    (await d.docker(['exec', c, 'ping', '-c', '1', '-W', '1', ip])).code === 0
  const weftEndpoints = async (a: RunningAgent, net: string) => {
    const r = await a.api('GET', `/v1/networks/${net}`)
    if (r.status !== 200) return []
    return Object.values(
      r.body.Containers as Record<string, { Name: string; IPv4Address: string; Node: string }>,
    ).map((c) => ({ name: c.Name, ip: c.IPv4Address.split('/')[0]!, node: c.Node }))
  }

  test('created on host 1, `docker network ls` on hosts 2 and 3 shows it (driver weft, scope local)', async () => {
    const t0 = performance.now()
    await dh[0]!.mustDocker([
      'network',
      'create',
      '-d',
      'weft',
      '--ipam-driver',
      'weft',
      '--subnet',
      '10.50.0.0/24',
      'ov_net1',
    ])
    const created = performance.now()
    expect(await names(dh[0]!)).toEqual(['ov_net1 weft local'])
    for (const d of dh.slice(1)) {
      const seen = await waitFor(async () => (await names(d)).includes('ov_net1 weft local'), {
        what: `ov_net1 on ${d.host.ns}`,
        timeoutMs: 10_000,
        intervalMs: 10,
      })
      expect(seen).toBe(true)
    }
    console.log(
      `docker network create: ${(created - t0).toFixed(0)} ms; in every host's docker network ls after ${(performance.now() - t0).toFixed(0)} ms`,
    )
    const w = await agents[1]!.api('GET', '/v1/networks/ov_net1')
    expect(w.status).toBe(200)
    expect(w.body.IPAM.Config[0].Subnet).toBe('10.50.0.0/24')
    const sub = await dh[1]!.mustDocker([
      'network',
      'inspect',
      '-f',
      '{{(index .IPAM.Config 0).Subnet}} {{.IPAM.Driver}}',
      'ov_net1',
    ])
    expect(sub).toBe('10.50.0.0/24 weft')
  }, 30_000)

  test('bbox1 on host 1 and bbox2 on host 2 ping each other; endpoints carry the container names', async () => {
    const t0 = performance.now()
    await run(dh[0]!, 'bbox1', 'ov_net1')
    const t1 = performance.now()
    await run(dh[1]!, 'bbox2', 'ov_net1')
    const t2 = performance.now()
    await dh[0]!.mustDocker([
      'run',
      '-d',
      '--network',
      'none',
      '--name',
      'baseline',
      BUSYBOX_IMAGE,
      'sleep',
      '3600',
    ])
    console.log(
      `docker run -d on a weft network: ${(t1 - t0).toFixed(0)} ms, ${(t2 - t1).toFixed(0)} ms (--network none: ${(performance.now() - t2).toFixed(0)} ms)`,
    )
    await dh[0]!.mustDocker(['rm', '-f', 'baseline'])
    const ip1 = await ipOf(dh[0]!, 'bbox1', 'ov_net1')
    const ip2 = await ipOf(dh[1]!, 'bbox2', 'ov_net1')
    expect(ip1).not.toBe(ip2)
    await waitFor(() => dockerPing(dh[1]!, 'bbox2', ip1), {
      what: `bbox2 -> bbox1 (${ip1})`,
      timeoutMs: 10_000,
    })
    await waitFor(() => dockerPing(dh[0]!, 'bbox1', ip2), {
      what: `bbox1 -> bbox2 (${ip2})`,
      timeoutMs: 10_000,
    })
    const eps = await waitFor(
      async () => {
        const e = await weftEndpoints(agents[0]!, 'ov_net1')
        return e.length === 2 && e.every((x) => x.name.startsWith('bbox')) ? e : undefined
      },
      { what: 'weft endpoints named after the containers' },
    )
    expect(eps.map((e) => `${e.name} ${e.ip}`).sort()).toEqual([`bbox1 ${ip1}`, `bbox2 ${ip2}`])
    // the way out: Docker set the default route from the Join answer; host 1's underlay address
    // (outside the overlay, inside the test's namespaces) answers bbox2 on host 2 through host 2's
    // NAT. The kernel datapath has no way out: there it must not answer.
    expect(await dh[1]!.mustDocker(['exec', 'bbox2', 'ip', 'route'])).toContain(
      'default via 10.50.0.1 dev eth0',
    )
    const outside = topo.hosts[0]!.underlay.ip
    if (DATAPATH === 'bpf')
      await waitFor(() => dockerPing(dh[1]!, 'bbox2', outside), {
        what: 'bbox2 -> host 1 underlay (way out)',
        timeoutMs: 10_000,
      })
    else expect(await dockerPing(dh[1]!, 'bbox2', outside)).toBe(false)
    // the third host joins the same network
    await run(dh[2]!, 'bbox9', 'ov_net1')
    for (const [i, c] of [
      [0, 'bbox1'],
      [1, 'bbox2'],
    ] as const) {
      await waitFor(() => dockerPing(dh[2]!, 'bbox9', i === 0 ? ip1 : ip2), {
        what: `bbox9 -> ${c}`,
        timeoutMs: 10_000,
      })
    }
    await dh[2]!.mustDocker(['rm', '-f', 'bbox9'])
    // eth0 carries weft's MAC for the address
    const mac = await dh[0]!.mustDocker(['exec', 'bbox1', 'cat', '/sys/class/net/eth0/address'])
    expect(mac).toBe(
      `02:42:${ip1
        .split('.')
        .map((b) => Number(b).toString(16).padStart(2, '0'))
        .join(':')}`,
    )
  }, 60_000)

  test('a second network stays isolated; `docker network connect` adds eth1, `disconnect` removes it', async () => {
    await dh[1]!.mustDocker([
      'network',
      'create',
      '-d',
      'weft',
      '--ipam-driver',
      'weft',
      '--subnet',
      '10.51.0.0/24',
      'ov_net2',
    ])
    await waitFor(async () => (await names(dh[0]!)).includes('ov_net2 weft local'), {
      what: 'ov_net2 on host 1',
      timeoutMs: 10_000,
    })
    await run(dh[0]!, 'bbox3', 'ov_net2')
    const ip3 = await ipOf(dh[0]!, 'bbox3', 'ov_net2')
    const ip2 = await ipOf(dh[1]!, 'bbox2', 'ov_net1')
    // nothing of ov_net1 is reachable from ov_net2
    expect(await dockerPing(dh[0]!, 'bbox3', ip2)).toBe(false)
    await dh[1]!.mustDocker(['network', 'connect', 'ov_net2', 'bbox2'])
    const links = async () =>
      (await dh[1]!.mustDocker(['exec', 'bbox2', 'ls', '/sys/class/net'])).split(/\s+/).sort()
    expect(await links()).toEqual(['eth0', 'eth1', 'lo'])
    await waitFor(() => dockerPing(dh[1]!, 'bbox2', ip3), {
      what: `bbox2 (eth1) -> bbox3 (${ip3})`,
      timeoutMs: 10_000,
    })
    await dh[1]!.mustDocker(['network', 'disconnect', 'ov_net2', 'bbox2'])
    expect(await links()).toEqual(['eth0', 'lo'])
    expect(await dockerPing(dh[1]!, 'bbox2', ip3)).toBe(false)
    expect((await weftEndpoints(agents[1]!, 'ov_net2')).map((e) => e.name)).toEqual(['bbox3'])
  }, 60_000)

  test('`docker rm -f` releases the endpoint and its address on every host; the next container may get it', async () => {
    const ip1 = await ipOf(dh[0]!, 'bbox1', 'ov_net1')
    await dh[0]!.mustDocker(['rm', '-f', 'bbox1'])
    for (const a of agents) {
      await waitFor(async () => !(await weftEndpoints(a, 'ov_net1')).some((e) => e.ip === ip1), {
        what: `${ip1} released on ${a.node}`,
      })
    }
    await run(dh[1]!, 'bbox4', 'ov_net1')
    expect(await ipOf(dh[1]!, 'bbox4', 'ov_net1')).toBe(ip1)
    const ip2 = await ipOf(dh[1]!, 'bbox2', 'ov_net1')
    await waitFor(() => dockerPing(dh[1]!, 'bbox4', ip2), { what: 'bbox4 -> bbox2 (same host)' })
    // --ip: the requested address, refused when another host's container holds it
    await run(dh[0]!, 'bbox7', 'ov_net1', ['--ip', '10.50.0.77'])
    expect(await ipOf(dh[0]!, 'bbox7', 'ov_net1')).toBe('10.50.0.77')
    await waitFor(() => dockerPing(dh[1]!, 'bbox2', '10.50.0.77'), {
      what: 'bbox2 -> bbox7 (--ip)',
      timeoutMs: 10_000,
    })
    const taken = await dh[0]!.docker([
      'run',
      '-d',
      '--network',
      'ov_net1',
      '--ip',
      ip2,
      '--name',
      'bbox8',
      BUSYBOX_IMAGE,
      'sleep',
      '3600',
    ])
    expect(taken.code).not.toBe(0)
    expect(taken.stderr).toContain(`address ${ip2} is already in use`)
    await dh[0]!.docker(['rm', '-f', 'bbox8'])
    await dh[0]!.mustDocker(['rm', '-f', 'bbox7'])
    // no veth of bbox1 (or bbox7) is left on host 1
    const hostLinks = (await dh[0]!.runInMountNs(['ip', '-o', 'link'])).stdout
    expect(hostLinks.split('\n').filter((l) => / wf[0-9a-f]{10}[@:]/.test(l)).length).toBe(1) // bbox3's host end
  }, 60_000)

  test('`docker network rm` while a container of another host is attached is put back on that host', async () => {
    // bbox3 on host 1 uses ov_net2; host 2 has nothing attached, so its Docker removes it anyway
    const r = await dh[1]!.docker(['network', 'rm', 'ov_net2'])
    expect(r.code).toBe(0) // Docker ignores a driver's refusal of DeleteNetwork
    const w = await agents[0]!.api('GET', '/v1/networks/ov_net2')
    expect(w.status).toBe(200)
    // within 3 s (the periodic pass alone would take up to 5 s)
    await waitFor(async () => (await names(dh[1]!)).includes('ov_net2 weft local'), {
      what: 'ov_net2 back on host 2',
      timeoutMs: 3000,
    })
  }, 30_000)

  test('`docker network rm` on host 2 removes it from weft and from host 1', async () => {
    await dh[0]!.mustDocker(['rm', '-f', 'bbox3'])
    await waitFor(async () => (await weftEndpoints(agents[1]!, 'ov_net2')).length === 0, {
      what: 'bbox3 released',
    })
    await dh[1]!.mustDocker(['network', 'rm', 'ov_net2'])
    expect((await agents[0]!.api('GET', '/v1/networks/ov_net2')).status).toBe(404)
    await waitFor(async () => !(await names(dh[0]!)).includes('ov_net2 weft local'), {
      what: 'ov_net2 gone from host 1',
      timeoutMs: 10_000,
    })
  }, 30_000)

  test("without --ipam-driver weft the create is refused saying to add it; weft's refusals reach the user; no --subnet takes weft's pool", async () => {
    const r = await dh[0]!.docker([
      'network',
      'create',
      '-d',
      'weft',
      '--subnet',
      '10.52.0.0/24',
      'no_ipam',
    ])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('--ipam-driver weft')
    expect(await names(dh[0]!)).not.toContain('no_ipam weft local')
    expect((await agents[0]!.api('GET', '/v1/networks/no_ipam')).status).toBe(404)
    // weft's refusals reach the user: a subnet overlapping a weft network
    const clash = await dh[1]!.docker([
      'network',
      'create',
      '-d',
      'weft',
      '--ipam-driver',
      'weft',
      '--subnet',
      '10.50.0.0/25',
      'clash',
    ])
    expect(clash.code).not.toBe(0)
    expect(clash.stderr).toContain('overlaps weft network ov_net1')
    expect((await agents[0]!.api('GET', '/v1/networks/clash')).status).toBe(404)
    // without --subnet: weft's default pool
    await dh[1]!.mustDocker(['network', 'create', '-d', 'weft', '--ipam-driver', 'weft', 'ov_auto'])
    const auto = await waitFor(
      async () => {
        const r = await agents[0]!.api('GET', '/v1/networks/ov_auto')
        return r.status === 200 ? r.body : undefined
      },
      { what: 'ov_auto in weft' },
    )
    expect(auto.IPAM.Config[0].Subnet).toMatch(/^10\.0\.\d+\.0\/24$/)
    await dh[1]!.mustDocker(['network', 'rm', 'ov_auto'])
    await waitFor(
      async () => (await agents[0]!.api('GET', '/v1/networks/ov_auto')).status === 404,
      { what: 'ov_auto removed' },
    )
  }, 30_000)

  test('options map onto weft: --gateway, --ip-range, mtu, vxlanid_list, --label, --internal', async () => {
    await dh[0]!.mustDocker([
      'network',
      'create',
      '-d',
      'weft',
      '--ipam-driver',
      'weft',
      '--subnet',
      '10.53.0.0/24',
      '--gateway',
      '10.53.0.254',
      '--ip-range',
      '10.53.0.128/25',
      '--opt',
      'com.docker.network.driver.mtu=1400',
      '--opt',
      'com.docker.network.driver.overlay.vxlanid_list=4242',
      '--label',
      'team=blue',
      '--internal',
      'ov_opts',
    ])
    const w = await waitFor(
      async () => {
        const r = await agents[1]!.api('GET', '/v1/networks/ov_opts')
        return r.status === 200 ? r.body : undefined
      },
      { what: 'ov_opts in weft' },
    )
    expect(w.IPAM.Config[0]).toEqual({
      Subnet: '10.53.0.0/24',
      Gateway: '10.53.0.254',
      IPRange: '10.53.0.128/25',
    })
    expect(w.Options['com.docker.network.driver.mtu']).toBe('1400')
    expect(w.Options['com.docker.network.driver.overlay.vxlanid_list']).toBe('4242')
    expect(w.Internal).toBe(true)
    expect(w.Labels).toEqual({ team: 'blue' })
    await waitFor(async () => (await names(dh[1]!)).includes('ov_opts weft local'), {
      what: 'ov_opts on host 2',
      timeoutMs: 10_000,
    })
    expect(
      await dh[1]!.mustDocker([
        'network',
        'inspect',
        '-f',
        '{{.Internal}} {{(index .IPAM.Config 0).Gateway}}',
        'ov_opts',
      ]),
    ).toBe('true 10.53.0.254')
    await run(dh[1]!, 'bbox5', 'ov_opts')
    expect(await ipOf(dh[1]!, 'bbox5', 'ov_opts')).toBe('10.53.0.128')
    expect(await dh[1]!.mustDocker(['exec', 'bbox5', 'cat', '/sys/class/net/eth0/mtu'])).toBe(
      '1400',
    )
    // internal: no default route, no way out
    expect(await dh[1]!.mustDocker(['exec', 'bbox5', 'ip', 'route'])).not.toContain('default')
    expect(await dockerPing(dh[1]!, 'bbox5', topo.hosts[0]!.underlay.ip)).toBe(false)
    await dh[1]!.mustDocker(['rm', '-f', 'bbox5'])
    await dh[1]!.mustDocker(['network', 'rm', 'ov_opts'])
  }, 60_000)

  test('`weft network create` appears in Docker; a container and an ip-netns sandbox on other hosts ping each other', async () => {
    const created = await agents[0]!.api('POST', '/v1/networks', {
      name: 'mixed',
      subnet: '10.54.0.0/24',
    })
    expect(created.status).toBe(201)
    for (const d of dh)
      await waitFor(async () => (await names(d)).includes('mixed weft local'), {
        what: `mixed on ${d.host.ns}`,
        timeoutMs: 10_000,
      })
    await run(dh[0]!, 'bbox6', 'mixed')
    const ipC = await ipOf(dh[0]!, 'bbox6', 'mixed')
    const sandbox = topo.hosts[1]!.containers[0]!.ns
    const c = await agents[1]!.api('POST', '/v1/networks/mixed/connect', { sandbox })
    expect(c.status).toBe(201)
    const ipS = c.body.ip as string
    expect(ipS).not.toBe(ipC)
    await waitFor(async () => (await ping(sandbox, ipC, { count: 1 })).received === 1, {
      what: `sandbox -> container ${ipC}`,
      timeoutMs: 10_000,
    })
    await waitFor(() => dockerPing(dh[0]!, 'bbox6', ipS), {
      what: `container -> sandbox ${ipS}`,
      timeoutMs: 10_000,
    })
  }, 60_000)
})
