// The weft CLI end to end: a 2-host cluster (real agents in host namespaces) driven only
// through `dist/weft --host unix://<agent socket> …`, with real pings between containers.
// Datapath: WEFT_TEST_DATAPATH (default bpf).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTopology, ping, waitFor, type Topology } from '../harness/index.ts'
import { startAgents, type RunningAgent } from '../agent/agents.ts'
import { weft, weftAt, type CliResult } from './weft.ts'

const DATAPATH = (process.env.WEFT_TEST_DATAPATH ?? 'bpf') as 'bpf' | 'kernel'

const ok = (r: CliResult) => {
  if (r.code !== 0) throw new Error(`weft exited ${r.code}: ${r.stderr}`)
  return r.stdout
}

describe(`weft CLI on a 2-host cluster (${DATAPATH} datapath)`, () => {
  let topo: Topology
  let agents: RunningAgent[]
  let h1: ReturnType<typeof weftAt>
  let h2: ReturnType<typeof weftAt>
  let id = ''
  const ips: string[] = []
  const c = (host: number) => topo.hosts[host]!.containers[0]!.ns

  beforeAll(async () => {
    topo = await createTopology({ hosts: 2, containersPerHost: 1 })
    agents = await startAgents(topo, { datapath: DATAPATH })
    h1 = weftAt(agents[0]!.socket)
    h2 = weftAt(agents[1]!.socket)
  }, 60_000)

  afterAll(async () => {
    await topo.destroy()
  }, 60_000)

  test('node ls shows both hosts Ready', async () => {
    const out = ok(await h2(['node', 'ls']))
    const lines = out.trim().split('\n')
    expect(lines[0]).toMatch(/^NAME\s+ADVERTISE\s+STATUS\s+DATAPATH\s+ENDPOINTS\s+VERSION$/)
    for (const a of agents)
      expect(out).toMatch(
        new RegExp(
          `${a.node}\\s+${a.host.underlay.ip.replace(/\./g, '\\.')}\\s+Ready\\s+${DATAPATH}`,
        ),
      )
  })

  test('network create with repeated --label/--opt prints the 64-hex id', async () => {
    const r = await h1([
      'network',
      'create',
      '-d',
      'overlay',
      '--subnet',
      '10.0.7.0/24',
      '--gateway',
      '10.0.7.254',
      '--vni',
      '4242',
      '--label',
      'team=red',
      '--label=tier=web',
      '--opt',
      'x.y=1',
      '-o',
      'z=2',
      'blue',
    ])
    id = ok(r).trim()
    expect(id).toMatch(/^[0-9a-f]{64}$/)
  })

  test('network ls: Docker table, -q and --format json', async () => {
    const table = ok(await h2(['network', 'ls'])).split('\n')
    expect(table[0]).toBe('NETWORK ID     NAME      DRIVER    SCOPE')
    expect(table).toContain(`${id.slice(0, 12)}   blue      overlay   global`)
    expect(
      ok(await h2(['network', 'ls', '-q']))
        .trim()
        .split('\n'),
    ).toEqual([id.slice(0, 12)])
    const json = ok(await h1(['network', 'ls', '--format', 'json']))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(json).toHaveLength(1)
    expect(json[0]).toMatchObject({
      ID: id.slice(0, 12),
      Name: 'blue',
      Driver: 'overlay',
      Scope: 'global',
      VNI: '4242',
      Subnet: '10.0.7.0/24',
    })
    expect(json[0].Labels.split(',').sort()).toEqual(['team=red', 'tier=web'])
  })

  test("network inspect prints Docker's shape as an array, by name and by id prefix", async () => {
    const arr = JSON.parse(ok(await h2(['network', 'inspect', 'blue', id.slice(0, 8)])))
    expect(Array.isArray(arr)).toBe(true)
    expect(arr).toHaveLength(2)
    const n = arr[0]
    expect(n.Name).toBe('blue')
    expect(n.Id).toBe(id)
    expect(Number.isNaN(Date.parse(n.Created))).toBe(false)
    expect(n.Scope).toBe('global')
    expect(n.Driver).toBe('overlay')
    expect(n.IPAM.Config).toEqual([{ Subnet: '10.0.7.0/24', Gateway: '10.0.7.254' }])
    expect(n.Containers).toEqual({})
    expect(n.Options['com.docker.network.driver.overlay.vxlanid_list']).toBe('4242')
    expect(n.Options).toMatchObject({ 'x.y': '1', z: '2' })
    expect(n.Labels).toEqual({ team: 'red', tier: 'web' })
    expect(arr[1].Id).toBe(id)
  })

  test('network connect on both hosts, then containers ping each other across hosts', async () => {
    for (const [i, h] of [h1, h2].entries()) {
      const out = ok(await h(['network', 'connect', 'blue', c(i)]))
      const m = /^(\S+) (\d+\.\d+\.\d+\.\d+) (\S+) eth0 on (\S+) \(endpoint [0-9a-f]{12}\)$/.exec(
        out.trim(),
      )
      expect(m).not.toBeNull()
      expect(m![1]).toBe(c(i))
      expect(m![4]).toBe(agents[i]!.node)
      ips.push(m![2]!)
    }
    expect(ips).toEqual(['10.0.7.1', '10.0.7.2'])
    await waitFor(async () => (await ping(c(0), ips[1]!, { count: 1 })).received === 1, {
      what: `ping ${c(0)} -> ${ips[1]}`,
    })
    expect((await ping(c(1), ips[0]!, { count: 3, intervalS: 0.1 })).received).toBe(3)
  }, 30_000)

  test('inspect lists both containers with endpoint id, MAC and address', async () => {
    const [n] = JSON.parse(ok(await h1(['network', 'inspect', 'blue'])))
    const eps = Object.entries(n.Containers) as [string, any][]
    expect(eps).toHaveLength(2)
    for (const [key, e] of eps) {
      expect(e.EndpointID).toBe(key)
      expect(e.EndpointID).toMatch(/^[0-9a-f]{64}$/)
      expect(e.MacAddress).toMatch(/^02:42:0a:00:07:0[12]$/)
      expect(ips.map((ip) => `${ip}/24`)).toContain(e.IPv4Address)
    }
    expect(eps.map(([, e]) => e.Name).sort()).toEqual([c(0), c(1)].sort())
  })

  test('stats shows the VNI with traffic counted', async () => {
    const out = ok(await h1(['stats']))
    expect(out.split('\n')[0]).toMatch(
      /^VNI\s+NETWORK\s+RX PACKETS\s+RX BYTES\s+TX PACKETS\s+TX BYTES\s+DROPS$/,
    )
    const row = out.split('\n').find((l) => l.startsWith('4242 '))
    expect(row).toBeDefined()
    const [, , rx, , tx] = row!.split(/\s+/)
    expect(Number(rx)).toBeGreaterThan(0)
    expect(Number(tx)).toBeGreaterThan(0)
    const watch = ok(await h1(['stats', '--watch', '--interval', '200ms', '--count', '2']))
    expect(watch.match(/^VNI\s+NETWORK\s+RX PKT\/S/gm)).toHaveLength(2)
  })

  test('external endpoint: connect --external and disconnect by name', async () => {
    const out = ok(
      await h2([
        'network',
        'connect',
        '--external',
        '--ip',
        '10.0.7.100',
        '--mac',
        '02:00:00:00:00:64',
        '--vtep',
        '198.18.0.99',
        'blue',
        'legacy',
      ]),
    )
    expect(out).toContain('legacy 10.0.7.100 02:00:00:00:00:64 behind VTEP 198.18.0.99')
    const [n] = JSON.parse(ok(await h1(['network', 'inspect', 'blue'])))
    expect(
      Object.values(n.Containers).some((e: any) => e.Name === 'legacy' && e.External === true),
    ).toBe(true)
    ok(await h1(['network', 'disconnect', 'blue', 'legacy']))
  })

  test('disconnect: the endpoint is gone and traffic stops', async () => {
    expect(ok(await h2(['network', 'disconnect', 'blue', c(1)]))).toBe('')
    const [n] = JSON.parse(ok(await h1(['network', 'inspect', 'blue'])))
    expect(Object.values(n.Containers).map((e: any) => e.Name)).toEqual([c(0)])
    await waitFor(
      async () => (await ping(c(0), ips[1]!, { count: 1, timeoutMs: 500 })).received === 0,
      { what: 'ping to stop' },
    )
    ok(await h1(['network', 'disconnect', 'blue', c(0)]))
  }, 20_000)

  test('rm prints the name and the network is gone everywhere', async () => {
    expect(ok(await h2(['network', 'rm', 'blue'])).trim()).toBe('blue')
    await waitFor(async () => ok(await h1(['network', 'ls', '-q'])).trim() === '', {
      what: 'host 1 to forget blue',
    })
    const r = await h1(['network', 'inspect', 'blue'])
    expect(r.code).toBe(1)
    expect(r.stdout.trim()).toBe('[]')
    expect(r.stderr).toMatch(/^Error: network blue not found/)
  })

  test('an unreachable agent: exit 1 and one line saying what to do', async () => {
    const r = await weft(['--host', `unix://${agents[0]!.socket}.missing`, 'network', 'ls'])
    expect(r.code).toBe(1)
    expect(r.stderr.trim()).toBe(
      `Error: cannot reach the weft agent at unix://${agents[0]!.socket}.missing: is \`weft agent\` running? (set -H or WEFT_HOST)`,
    )
    const viaEnv = await weft(['network', 'ls'], {
      env: { WEFT_HOST: `unix://${agents[0]!.socket}` },
    })
    expect(viaEnv.code).toBe(0)
    expect(viaEnv.stdout).toStartWith('NETWORK ID')
  })

  test('bad usage exits 2, --help exits 0', async () => {
    for (const args of [
      ['network', 'create'],
      ['network', 'create', '--frob', 'x'],
      ['network', 'frob'],
      ['frob'],
      ['network', 'connect', 'blue'],
      ['network', 'create', '--vni', 'abc', 'x'],
      ['network', 'create', '--label'],
      ['network', 'ls', '--format', 'yaml'],
      ['agent'],
    ]) {
      const r = await h1(args)
      expect({ args, code: r.code }).toEqual({ args, code: 2 })
      expect(r.stderr).toMatch(/^Error: /)
      expect(r.stderr.split('\n')[0]!.length).toBeGreaterThan(10)
    }
    const help = await weft(['network', 'create', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('--subnet')
  })
})
