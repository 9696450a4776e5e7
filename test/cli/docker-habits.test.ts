// What a Docker user reaches for, through dist/weft against real agents (issue 19): Go
// templates on ls/inspect/node ls/endpoint ls, network ls --filter/--no-trunc/-q, network
// prune (prompt answered on stdin, and -f), endpoint ls like docker ps, a sandbox's lo up
// after its first connect, stats --format json with numbers. 2 hosts, one container each,
// all in the harness's namespaces. Datapath: WEFT_TEST_DATAPATH (default bpf).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTopology, ping, run, waitFor, type Topology } from '../harness/index.ts'
import { startAgents, type RunningAgent } from '../agent/agents.ts'
import { weftAt, type CliResult } from './weft.ts'

const DATAPATH = (process.env.WEFT_TEST_DATAPATH ?? 'bpf') as 'bpf' | 'kernel'

const ok = (r: CliResult) => {
  if (r.code !== 0) throw new Error(`weft exited ${r.code}: ${r.stderr}`)
  return r.stdout
}
const lines = (s: string) => s.trim().split('\n').filter(Boolean)

describe(`weft CLI, the Docker habits (${DATAPATH} datapath)`, () => {
  let topo: Topology
  let agents: RunningAgent[]
  let h1: ReturnType<typeof weftAt>
  let h2: ReturnType<typeof weftAt>
  const ids: Record<string, string> = {}
  const c = (host: number) => topo.hosts[host]!.containers[0]!.ns

  beforeAll(async () => {
    topo = await createTopology({ hosts: 2, containersPerHost: 1 })
    agents = await startAgents(topo, { datapath: DATAPATH })
    h1 = weftAt(agents[0]!.socket)
    h2 = weftAt(agents[1]!.socket)
  }, 60_000)

  afterAll(async () => {
    await topo?.destroy()
  }, 60_000)

  test('create: --attachable is accepted (weft networks always are); three networks', async () => {
    const create = async (name: string, args: string[]) => {
      ids[name] = ok(await h1(['network', 'create', ...args, name])).trim()
      expect(ids[name]).toMatch(/^[0-9a-f]{64}$/)
    }
    await create('blue', [
      '--attachable',
      '--subnet',
      '10.0.7.0/24',
      '--label',
      'team=red',
      '--label',
      'tier=web',
    ])
    await create('green', ['--label', 'team=blue'])
    await create('spare', [])
    // host 2 sees all three (the filters below run there)
    await waitFor(async () => lines(ok(await h2(['network', 'ls', '-q']))).length === 3, {
      what: 'host 2 to see 3 networks',
    })
  })

  test('network ls --filter: same key ORs, different keys AND, labels all; name a part, id a prefix', async () => {
    const names = async (...filters: string[]) =>
      lines(
        ok(
          await h2([
            'network',
            'ls',
            '--format',
            '{{.Name}}',
            ...filters.flatMap((f) => ['--filter', f]),
          ]),
        ),
      ).sort()
    expect(await names('name=bl')).toEqual(['blue'])
    expect(await names('name=blue', 'name=green')).toEqual(['blue', 'green'])
    expect(await names('name=^gr')).toEqual(['green'])
    expect(await names('driver=overlay', 'label=team=red')).toEqual(['blue'])
    expect(await names('label=team')).toEqual(['blue', 'green'])
    expect(await names('label=team=red', 'label=tier=web')).toEqual(['blue'])
    expect(await names('label=team=red', 'label=tier=db')).toEqual([])
    expect(await names(`id=${ids.green!.slice(0, 5)}`)).toEqual(['green'])
    expect(await names('type=custom', 'scope=global')).toEqual(['blue', 'green', 'spare'])
    expect(await names('driver=bridge')).toEqual([])
    // -f is --filter, as docker network ls has it
    expect(lines(ok(await h2(['network', 'ls', '-q', '-f', 'name=spare'])))).toEqual([
      ids.spare!.slice(0, 12),
    ])
    for (const [f, re] of [
      [
        'colour=blue',
        /^Error: invalid filter 'colour': use name, id, driver, label, scope, type\n/,
      ],
      ['name', /^Error: bad format of filter "name" \(expected name=value\)\n/],
      ['type=builtins', /^Error: invalid filter 'type=builtins'/],
    ] as const) {
      const r = await h2(['network', 'ls', '--filter', f])
      expect({ f, code: r.code }).toEqual({ f, code: 2 })
      expect(r.stderr).toMatch(re)
    }
  })

  test('network ls --no-trunc prints whole ids (table, -q, templates); without it 12 characters', async () => {
    const table = lines(ok(await h2(['network', 'ls', '--no-trunc'])))
    expect(table[0]).toMatch(/^NETWORK ID {2,}NAME {2,}DRIVER {2,}SCOPE$/)
    expect(table.find((l) => l.startsWith(ids.blue!))).toMatch(
      new RegExp(`^${ids.blue} +blue +overlay +global$`),
    )
    expect(lines(ok(await h2(['network', 'ls', '-q', '--no-trunc']))).sort()).toEqual(
      Object.values(ids).sort(),
    )
    expect(
      ok(
        await h2(['network', 'ls', '--no-trunc', '-f', 'name=blue', '--format', '{{.ID}}']),
      ).trim(),
    ).toBe(ids.blue!)
    expect(ok(await h2(['network', 'ls', '-f', 'name=blue', '--format', '{{.ID}}'])).trim()).toBe(
      ids.blue!.slice(0, 12),
    )
  })

  test('network ls --format: a template per row, table headers, json as {{json .}}', async () => {
    const t = lines(
      ok(
        await h1([
          'network',
          'ls',
          '-f',
          'name=blue',
          '--format',
          'table {{.Name}}\\t{{.ID}}\\t{{.Label "team"}}\\t{{.Subnet}}',
        ]),
      ),
    )
    expect(t).toEqual([
      'NAME      NETWORK ID     LABEL     SUBNET',
      `blue      ${ids.blue!.slice(0, 12)}   red       10.0.7.0/24`,
    ])
    // no rows: the header still names the columns
    const none = [
      'network',
      'ls',
      '-f',
      'name=nothing',
      '--format',
      'table {{.Name}}\\t{{.Label "x"}}',
    ]
    expect(ok(await h1(none))).toBe('NAME      LABEL\n')
    const json = ok(await h1(['network', 'ls', '-f', 'name=blue', '--format', 'json'])).trim()
    expect(
      ok(await h1(['network', 'ls', '-f', 'name=blue', '--format', '{{json .}}'])).trim(),
    ).toBe(json)
    expect(JSON.parse(json)).toMatchObject({
      Name: 'blue',
      Driver: 'overlay',
      Subnet: '10.0.7.0/24',
    })
    const r = await h1(['network', 'ls', '--format', '{{.Nmae}}'])
    expect(r.code).toBe(2)
    expect(r.stderr).toStartWith(
      "Error: --format: template: executing at <.Nmae>: can't evaluate field Nmae (the fields are: CreatedAt, Driver, ID,",
    )
    const bad = await h1(['network', 'ls', '--format', '{{.Name'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toStartWith('Error: --format: template parsing error: unclosed action')
  })

  test("connect brings the sandbox's lo up (as a Docker container has it): 127.0.0.1 answers", async () => {
    for (const [i, h] of [h1, h2].entries()) {
      // a fresh netns has lo down (the harness brings it up: put it back as a new sandbox has it)
      expect((await run(['ip', '-n', c(i), 'link', 'set', 'lo', 'down'])).code).toBe(0)
      const lo = JSON.parse((await run(['ip', '-n', c(i), '-j', 'link', 'show', 'lo'])).stdout)[0]
      expect(lo.flags).not.toContain('UP')
      ok(await h(['network', 'connect', 'blue', c(i)]))
      const after = JSON.parse(
        (await run(['ip', '-n', c(i), '-j', 'link', 'show', 'lo'])).stdout,
      )[0]
      expect(after.flags).toContain('UP')
      expect((await ping(c(i), '127.0.0.1', { count: 1 })).received).toBe(1)
    }
    await waitFor(async () => (await ping(c(0), '10.0.7.3', { count: 1 })).received === 1, {
      what: 'ping across blue',
    })
  }, 30_000)

  test("network inspect -f: the tutorial's inspect templates, against Docker's network shape", async () => {
    const f = async (tpl: string, ...nets: string[]) =>
      ok(await h2(['network', 'inspect', '-f', tpl, ...(nets.length ? nets : ['blue'])]))
    expect(
      (await f('{{range .Containers}}{{.IPv4Address}} {{end}}')).trim().split(' ').sort(),
    ).toEqual(['10.0.7.2/24', '10.0.7.3/24'])
    // one container's address by its name, as the tutorial's .NetworkSettings.Networks.X.IPAddress
    expect(
      await f(`{{range .Containers}}{{if eq .Name "${c(1)}"}}{{.IPv4Address}}{{end}}{{end}}`),
    ).toBe('10.0.7.3/24\n')
    expect(await f('{{(index .IPAM.Config 0).Subnet}}')).toBe('10.0.7.0/24\n')
    expect(await f('{{.IPAM.Config}}')).toBe('[{10.0.7.0/24 10.0.7.1}]\n')
    expect(await f('{{json .Labels}}')).toBe('{"team":"red","tier":"web"}\n')
    expect(await f('{{.Name}} {{len .Containers}}', 'blue', 'green')).toBe('blue 2\ngreen 0\n')
    expect(await f('{{index .Options "com.docker.network.driver.overlay.vxlanid_list"}}')).toMatch(
      /^\d+\n$/,
    )
    const whole = JSON.parse(await f('{{json .}}'))
    expect(whole.Id).toBe(ids.blue)
    const typo = await h2([
      'network',
      'inspect',
      '-f',
      '{{.NetworkSettings.Networks.my_overlay.IPAddress}}',
      'blue',
    ])
    expect(typo.code).toBe(2)
    expect(typo.stderr).toMatch(
      /can't evaluate field NetworkSettings \(the fields are: Name, Id, .*Containers/,
    )
  })

  test('endpoint ls: every endpoint like docker ps, with --filter, --format, -q', async () => {
    const table = lines(ok(await h1(['endpoint', 'ls'])))
    expect(table[0]).toMatch(/^ENDPOINT ID +NAME +NETWORK +ADDRESS +MAC +NODE +PORTS +STATUS$/)
    expect(table).toHaveLength(3)
    expect(table[1]).toMatch(
      new RegExp(
        `^[0-9a-f]{12} +${c(0)} +blue +10\\.0\\.7\\.2 +02:42:0a:00:07:02 +${agents[0]!.node} +attached$`,
      ),
    )
    const rows = lines(
      ok(
        await h1([
          'endpoint',
          'ls',
          '--format',
          '{{.Name}} {{.Network}} {{.IPAddress}} {{.MacAddress}} {{.Node}} {{.Status}}',
        ]),
      ),
    ).sort()
    expect(rows).toEqual(
      [
        `${c(0)} blue 10.0.7.2 02:42:0a:00:07:02 ${agents[0]!.node} attached`,
        `${c(1)} blue 10.0.7.3 02:42:0a:00:07:03 ${agents[1]!.node} remote`,
      ].sort(),
    )
    const byNode = lines(
      ok(
        await h1([
          'endpoint',
          'ls',
          '--filter',
          `node=${agents[1]!.node}`,
          '--format',
          '{{.Name}}',
        ]),
      ),
    )
    expect(byNode).toEqual([c(1)])
    expect(lines(ok(await h1(['endpoint', 'ls', '-f', 'network=green', '-q'])))).toEqual([])
    const empty = [
      'endpoint',
      'ls',
      '-f',
      'network=green',
      '--format',
      'table {{.Name}}\\t{{.IPAddress}}',
    ]
    expect(ok(await h1(empty))).toBe('NAME      ADDRESS\n')
    expect(
      lines(
        ok(
          await h1([
            'endpoint',
            'ls',
            '-f',
            'network=blue',
            '-f',
            `name=${c(0)}`,
            '--format',
            '{{.Name}}',
          ]),
        ),
      ),
    ).toEqual([c(0)])
    const q = lines(ok(await h1(['endpoint', 'ls', '-q'])))
    expect(q).toHaveLength(2)
    for (const id of q) expect(id).toMatch(/^[0-9a-f]{12}$/)
    for (const l of lines(ok(await h1(['endpoint', 'ls', '--format', 'json'])))) {
      expect(JSON.parse(l)).toMatchObject({ Network: 'blue', External: false })
    }
    expect((await h1(['endpoint', 'ls', '-f', 'vni=1'])).code).toBe(2)
  })

  test('node ls --format: template and table template', async () => {
    const rows = lines(
      ok(await h1(['node', 'ls', '--format', '{{.Name}} {{.Status}} {{.Datapath}}'])),
    ).sort()
    expect(rows).toEqual(agents.map((a) => `${a.node} Ready ${DATAPATH}`).sort())
    const t = lines(ok(await h1(['node', 'ls', '--format', 'table {{.Name}}\\t{{.Endpoints}}'])))
    expect(t[0]).toMatch(/^NAME +ENDPOINTS$/)
    expect(t).toHaveLength(3)
  })

  test('stats --format json: counts are numbers', async () => {
    const stats = JSON.parse(ok(await h1(['stats', '--format', 'json']))) as Record<
      string,
      unknown
    >[]
    const blue = stats.find((s) => s.network === 'blue')
    expect(blue).toBeDefined()
    for (const k of ['rxPackets', 'rxBytes', 'txPackets', 'txBytes'])
      expect(typeof blue![k]).toBe('number')
    expect(blue!.txPackets as number).toBeGreaterThan(0)
    for (const v of Object.values(blue!.drops as Record<string, unknown>))
      expect(typeof v).toBe('number')
  })

  test('network prune: asks, "n" or no answer keeps everything; "y" removes the networks without endpoints', async () => {
    const prompt =
      'WARNING! This will remove all custom networks not used by at least one endpoint.\nAre you sure you want to continue? [y/N] '
    for (const stdin of ['n\n', undefined, 'yes please\n']) {
      const r = await h1(['network', 'prune'], { stdin })
      expect({ stdin, code: r.code, out: r.stdout }).toEqual({ stdin, code: 0, out: prompt })
    }
    expect(lines(ok(await h1(['network', 'ls', '--format', '{{.Name}}']))).sort()).toEqual([
      'blue',
      'green',
      'spare',
    ])
    const yes = await h1(['network', 'prune'], { stdin: 'y\n' })
    expect(yes.code).toBe(0)
    expect(yes.stdout.startsWith(prompt)).toBe(true)
    const deleted = yes.stdout.slice(prompt.length).split('\n')
    expect(deleted[0]).toBe('Deleted Networks:')
    expect(deleted.slice(1).filter(Boolean).sort()).toEqual(['green', 'spare'])
    expect(lines(ok(await h1(['network', 'ls', '--format', '{{.Name}}'])))).toEqual(['blue'])
    // -f: no prompt; nothing unused left: nothing printed
    ok(await h1(['network', 'create', '--label', 'x=1', 'spare2']))
    ok(await h1(['network', 'create', 'spare3']))
    expect(ok(await h1(['network', 'prune', '-f', '--filter', 'label=x']))).toBe(
      'Deleted Networks:\nspare2\n\n',
    )
    expect(ok(await h1(['network', 'prune', '--force']))).toBe('Deleted Networks:\nspare3\n\n')
    expect(ok(await h1(['network', 'prune', '-f']))).toBe('')
    expect(lines(ok(await h1(['network', 'ls', '-q'])))).toEqual([ids.blue!.slice(0, 12)])
  })
})
