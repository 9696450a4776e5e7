// Bad input, table-driven, through the admin API and through the CLI: each case gets a
// clear error with the right status / exit code and changes nothing — not the store
// (networks, endpoints), not the hosts (links in every host and container namespace),
// not the datapath (VNIs programmed, per /v1/stats). Real agents, real namespaces.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTopology, runIn, type Topology } from '../harness/index.ts'
import { startAgents, WEFT, type RunningAgent } from '../agent/agents.ts'
import { weft, type CliResult } from '../cli/weft.ts'

const DATAPATH = (process.env.WEFT_TEST_DATAPATH ?? 'bpf') as 'bpf' | 'kernel'
const TOKEN = 's3cret-token-for-tests'
const TCP_PORT = 7777

interface ApiCase {
  method: 'GET' | 'POST' | 'DELETE'
  path: string
  body?: unknown
  /** Sent as is (malformed JSON, huge bodies). */
  raw?: string
  /** Send over TCP from inside host 1 with this Authorization header (null: none). */
  tcpAuth?: string | null
  host?: 0 | 1
  status: number
  error: string
  message: RegExp
}

interface CliCase {
  args: string[]
  host?: 0 | 1
  /** Run inside host 1 against tcp://127.0.0.1:PORT with this WEFT_TOKEN (null: none). */
  tcpToken?: string | null
  code: number
  stderr: RegExp
}

interface Case {
  name: string
  api?: ApiCase
  cli?: CliCase
}

const big = 'a'.repeat(1024 * 1024 + 10)

// fixture (beforeAll): network "taken" 10.0.50.0/24, VNI 4000, with container c1 of host 1 at 10.0.50.10
const cases = (c2: string, missing: string): Case[] => [
  {
    name: 'unknown network (inspect)',
    api: {
      method: 'GET',
      path: '/v1/networks/nope',
      status: 404,
      error: 'network_not_found',
      message: /network nope not found/,
    },
    cli: {
      args: ['network', 'inspect', 'nope'],
      code: 1,
      stderr: /^Error: network nope not found: see `weft network ls`$/,
    },
  },
  {
    name: 'unknown network (rm)',
    api: {
      method: 'DELETE',
      path: '/v1/networks/nope',
      status: 404,
      error: 'network_not_found',
      message: /network nope not found/,
    },
    cli: { args: ['network', 'rm', 'nope'], code: 1, stderr: /^Error: network nope not found/ },
  },
  {
    name: 'unknown network (connect)',
    api: {
      method: 'POST',
      path: '/v1/networks/nope/connect',
      body: { sandbox: c2 },
      host: 1,
      status: 404,
      error: 'network_not_found',
      message: /network nope not found/,
    },
    cli: {
      args: ['network', 'connect', 'nope', c2],
      host: 1,
      code: 1,
      stderr: /^Error: network nope not found/,
    },
  },
  {
    name: 'duplicate name',
    api: {
      method: 'POST',
      path: '/v1/networks',
      body: { name: 'taken' },
      status: 409,
      error: 'name_taken',
      message: /network with name taken already exists/,
    },
    cli: {
      args: ['network', 'create', 'taken'],
      host: 1,
      code: 1,
      stderr: /^Error: network with name taken already exists$/,
    },
  },
  {
    name: 'bad CIDR',
    api: {
      method: 'POST',
      path: '/v1/networks',
      body: { name: 'x', subnet: '10.0.300.0/24' },
      status: 400,
      error: 'invalid_input',
      message: /subnet/,
    },
    cli: {
      args: ['network', 'create', '--subnet', '10.0.300.0/24', 'x'],
      code: 1,
      stderr: /^Error: .*subnet.*10\.0\.300\.0\/24/,
    },
  },
  {
    name: 'overlapping subnet',
    api: {
      method: 'POST',
      path: '/v1/networks',
      body: { name: 'x', subnet: '10.0.50.128/25' },
      status: 409,
      error: 'subnet_overlap',
      message: /overlaps network taken/,
    },
    cli: {
      args: ['network', 'create', '--subnet', '10.0.0.0/16', 'x'],
      code: 1,
      stderr: /^Error: subnet 10\.0\.0\.0\/16 overlaps network taken/,
    },
  },
  {
    name: 'gateway outside the subnet',
    api: {
      method: 'POST',
      path: '/v1/networks',
      body: { name: 'x', subnet: '10.0.60.0/24', gateway: '10.0.61.1' },
      status: 400,
      error: 'invalid_input',
      message: /gateway/,
    },
    cli: {
      args: ['network', 'create', '--subnet', '10.0.60.0/24', '--gateway', '10.0.61.1', 'x'],
      code: 1,
      stderr: /^Error: .*gateway.*10\.0\.61\.1/,
    },
  },
  {
    name: '--ip outside the subnet',
    api: {
      method: 'POST',
      path: '/v1/networks/taken/connect',
      body: { sandbox: c2, ip: '10.0.99.5' },
      host: 1,
      status: 400,
      error: 'invalid_input',
      message: /10\.0\.99\.5/,
    },
    cli: {
      args: ['network', 'connect', '--ip', '10.0.99.5', 'taken', c2],
      host: 1,
      code: 1,
      stderr: /^Error: .*10\.0\.99\.5.*10\.0\.50\.0\/24/,
    },
  },
  {
    name: '--ip already taken',
    api: {
      method: 'POST',
      path: '/v1/networks/taken/connect',
      body: { sandbox: c2, ip: '10.0.50.10' },
      host: 1,
      status: 409,
      error: 'ip_taken',
      message: /10\.0\.50\.10 is already in use/,
    },
    cli: {
      args: ['network', 'connect', '--ip', '10.0.50.10', 'taken', c2],
      host: 1,
      code: 1,
      stderr: /^Error: address 10\.0\.50\.10 is already in use in network taken$/,
    },
  },
  {
    name: '--ip is the gateway',
    api: {
      method: 'POST',
      path: '/v1/networks/taken/connect',
      body: { sandbox: c2, ip: '10.0.50.1' },
      host: 1,
      status: 409,
      error: 'ip_taken',
      message: /gateway/,
    },
  },
  {
    name: 'VNI 0',
    api: {
      method: 'POST',
      path: '/v1/networks',
      body: { name: 'x', vni: 0 },
      status: 400,
      error: 'invalid_input',
      message: /VNI|vni/,
    },
    cli: {
      args: ['network', 'create', '--vni', '0', 'x'],
      code: 1,
      stderr: /^Error: .*(VNI|vni).*0/,
    },
  },
  {
    name: 'VNI over 16777215',
    api: {
      method: 'POST',
      path: '/v1/networks',
      body: { name: 'x', vni: 16777216 },
      status: 400,
      error: 'invalid_input',
      message: /16777216/,
    },
    cli: {
      args: ['network', 'create', '--vni', '16777216', 'x'],
      code: 1,
      stderr: /^Error: .*16777216/,
    },
  },
  {
    name: 'VNI taken',
    api: {
      method: 'POST',
      path: '/v1/networks',
      body: { name: 'x', vni: 4000 },
      status: 409,
      error: 'vni_taken',
      message: /VNI 4000 is taken by network taken/,
    },
    cli: {
      args: ['network', 'create', '--vni', '4000', 'x'],
      code: 1,
      stderr: /^Error: VNI 4000 is taken by network taken$/,
    },
  },
  {
    name: 'VNI not a number (CLI usage)',
    cli: {
      args: ['network', 'create', '--vni', 'lots', 'x'],
      code: 2,
      stderr: /^Error: --vni "lots" must be a whole number\nSee 'weft network create --help'\.$/,
    },
  },
  {
    name: 'missing sandbox',
    api: {
      method: 'POST',
      path: '/v1/networks/taken/connect',
      body: { sandbox: missing },
      host: 1,
      status: 404,
      error: 'sandbox_not_found',
      message: new RegExp(`sandbox /run/netns/${missing} not found`),
    },
    cli: {
      args: ['network', 'connect', 'taken', missing],
      host: 1,
      code: 1,
      stderr: new RegExp(`^Error: sandbox /run/netns/${missing} not found: create it with`),
    },
  },
  {
    name: 'connect without a sandbox',
    api: {
      method: 'POST',
      path: '/v1/networks/taken/connect',
      body: {},
      status: 400,
      error: 'invalid_input',
      message: /sandbox is required/,
    },
  },
  {
    name: 'malformed JSON',
    api: {
      method: 'POST',
      path: '/v1/networks',
      raw: '{"name": "x",',
      status: 400,
      error: 'malformed_json',
      message: /not valid JSON/,
    },
  },
  {
    name: 'wrong JSON types and unknown fields',
    api: {
      method: 'POST',
      path: '/v1/networks',
      body: { name: 5, colour: 'red' },
      status: 400,
      error: 'invalid_input',
      message: /name/,
    },
  },
  {
    name: 'body over 1 MiB',
    api: {
      method: 'POST',
      path: '/v1/networks',
      raw: JSON.stringify({ name: 'x', labels: { big } }),
      status: 413,
      error: 'body_too_large',
      message: /over 1048576 bytes/,
    },
    cli: {
      args: [
        'network',
        'create',
        ...Array.from({ length: 10 }, (_, i) => ['--label', `k${i}=${'b'.repeat(110_000)}`]).flat(),
        'x',
      ],
      code: 1,
      stderr: /^Error: request body over 1048576 bytes$/,
    },
  },
  {
    name: 'missing token on TCP',
    api: {
      method: 'POST',
      path: '/v1/networks',
      body: { name: 'x' },
      tcpAuth: null,
      status: 401,
      error: 'unauthorized',
      message: /set WEFT_TOKEN/,
    },
    cli: {
      args: ['network', 'create', 'x'],
      tcpToken: null,
      code: 1,
      stderr: /^Error: missing bearer token: set WEFT_TOKEN$/,
    },
  },
  {
    name: 'wrong token on TCP',
    api: {
      method: 'POST',
      path: '/v1/networks',
      body: { name: 'x' },
      tcpAuth: 'Bearer nope',
      status: 403,
      error: 'forbidden',
      message: /wrong bearer token/,
    },
    cli: {
      args: ['network', 'create', 'x'],
      tcpToken: 'nope',
      code: 1,
      stderr: /^Error: wrong bearer token: check WEFT_TOKEN$/,
    },
  },
  {
    name: 'rm of a network with endpoints',
    api: {
      method: 'DELETE',
      path: '/v1/networks/taken',
      status: 409,
      error: 'network_in_use',
      message: /has active endpoints .*disconnect them first/,
    },
    cli: {
      args: ['network', 'rm', 'taken'],
      host: 1,
      code: 1,
      stderr: /^Error: network taken has active endpoints \(.*\): disconnect them first$/,
    },
  },
  {
    name: 'disconnect of an unknown endpoint',
    api: {
      method: 'POST',
      path: '/v1/networks/taken/disconnect',
      body: { endpoint: 'ghost' },
      status: 404,
      error: 'endpoint_not_found',
      message: /no endpoint ghost/,
    },
    cli: {
      args: ['network', 'disconnect', 'taken', 'ghost'],
      code: 1,
      stderr: /^Error: no endpoint ghost in network taken$/,
    },
  },
]

describe(`bad input changes nothing (${DATAPATH} datapath)`, () => {
  let topo: Topology
  let agents: RunningAgent[]
  let c1 = ''
  let c2 = ''
  let missing = ''

  const names = async (ns: string) =>
    (
      JSON.parse((await runIn(ns, ['ip', '-j', 'link'])).stdout) as {
        ifname: string
        ifindex: number
      }[]
    )
      .map((l) => `${l.ifindex}:${l.ifname}`)
      .sort()

  /** Everything bad input must not change. */
  const snapshot = async () => {
    const out: Record<string, unknown> = {}
    for (const [i, a] of agents.entries()) {
      const nets = await a.api('GET', '/v1/networks')
      out[`networks@${i}`] = nets.body.map((n: any) => ({
        id: n.Id,
        name: n.Name,
        vni: n.Options['com.docker.network.driver.overlay.vxlanid_list'],
        eps: Object.keys(n.Containers).sort(),
      }))
      out[`endpoints@${i}`] = (await a.api('GET', '/v1/endpoints')).body
        .map((e: any) => `${e.id} ${e.ip} ${e.name}`)
        .sort()
      out[`vnis@${i}`] = (await a.api('GET', '/v1/stats')).body.map((s: any) => s.vni).sort()
      out[`links@${a.host.ns}`] = await names(a.host.ns)
    }
    for (const ns of [c1, c2]) out[`links@${ns}`] = await names(ns)
    return out
  }

  beforeAll(async () => {
    topo = await createTopology({ hosts: 2, containersPerHost: 1 })
    agents = await startAgents(topo, {
      datapath: DATAPATH,
      extraArgs: ['--api-tcp', `127.0.0.1:${TCP_PORT}`, '--token', TOKEN],
    })
    c1 = topo.hosts[0]!.containers[0]!.ns
    c2 = topo.hosts[1]!.containers[0]!.ns
    missing = `${topo.prefix}-nosuch`
    const n = await agents[0]!.api('POST', '/v1/networks', {
      name: 'taken',
      subnet: '10.0.50.0/24',
      vni: 4000,
    })
    expect(n.status).toBe(201)
    const e = await agents[0]!.api('POST', '/v1/networks/taken/connect', {
      sandbox: c1,
      ip: '10.0.50.10',
    })
    expect(e.status).toBe(201)
  }, 60_000)

  afterAll(async () => {
    await topo.destroy()
  }, 60_000)

  const apiCall = async (a: ApiCase) => {
    const agent = agents[a.host ?? 0]!
    if (a.tcpAuth !== undefined) {
      const r = await runIn(agent.host.ns, [
        'curl',
        '-sS',
        '-X',
        a.method,
        '-H',
        'content-type: application/json',
        ...(a.tcpAuth === null ? [] : ['-H', `authorization: ${a.tcpAuth}`]),
        '--data-binary',
        a.raw ?? JSON.stringify(a.body),
        '-w',
        '\n%{http_code}',
        `http://127.0.0.1:${TCP_PORT}${a.path}`,
      ])
      const lines = r.stdout.trimEnd().split('\n')
      return { status: Number(lines.pop()), body: JSON.parse(lines.join('\n')) }
    }
    return agent.api(a.method, a.path, a.raw ?? a.body)
  }

  const cliCall = async (c: CliCase): Promise<CliResult> => {
    if (c.tcpToken !== undefined) {
      return weft(['--host', `tcp://127.0.0.1:${TCP_PORT}`, ...c.args], {
        ns: agents[c.host ?? 0]!.host.ns,
        env: { WEFT_TOKEN: c.tcpToken ?? undefined },
      })
    }
    return weft(['--host', `unix://${agents[c.host ?? 0]!.socket}`, ...c.args], {
      env: { WEFT_TOKEN: undefined },
    })
  }

  test('the fixture answers over TCP with the right token', async () => {
    const r = await apiCall({
      method: 'GET',
      path: '/v1/networks',
      tcpAuth: `Bearer ${TOKEN}`,
      status: 200,
      error: '',
      message: /./,
    })
    expect(r.status).toBe(200)
    expect(r.body.map((n: any) => n.Name)).toEqual(['taken'])
    const viaCli = await cliCall({
      args: ['network', 'ls', '-q'],
      tcpToken: TOKEN,
      code: 0,
      stderr: /^$/,
    })
    expect(viaCli.code).toBe(0)
  })

  for (const kase of cases('C2', 'MISSING')) {
    test(
      kase.name,
      async () => {
        const fill = (s: string) => s.replaceAll('C2', c2).replaceAll('MISSING', missing)
        const before = await snapshot()
        if (kase.api) {
          const a = JSON.parse(fill(JSON.stringify({ ...kase.api, message: undefined }))) as ApiCase
          a.message = new RegExp(fill(kase.api.message.source))
          if (kase.api.tcpAuth === null) a.tcpAuth = null
          const r = await apiCall(a)
          expect({ status: r.status, error: r.body?.error }).toEqual({
            status: a.status,
            error: a.error,
          })
          expect(Object.keys(r.body).sort()).toEqual(['error', 'message'])
          expect(r.body.message).toMatch(a.message)
          expect(await snapshot()).toEqual(before)
        }
        if (kase.cli) {
          const c = {
            ...kase.cli,
            args: kase.cli.args.map(fill),
            stderr: new RegExp(fill(kase.cli.stderr.source)),
          }
          const r = await cliCall(c)
          expect({ code: r.code, stderr: r.stderr.trim() }).toEqual({
            code: c.code,
            stderr: expect.stringMatching(c.stderr),
          })
          expect(r.stdout.trim()).not.toMatch(/^[0-9a-f]{64}$/)
          expect(await snapshot()).toEqual(before)
        }
      },
      30_000,
    )
  }

  test('the agent refuses to serve TCP without a token (exit 2, nothing started)', async () => {
    const dir = mkdtempSync(join(tmpdir(), `weft-${topo.prefix}-notoken-`))
    try {
      const h = topo.hosts[0]!
      const r = await weft(
        [
          'agent',
          '--name',
          `${topo.prefix}-nt`,
          '--advertise',
          h.underlay.ip,
          '--api-tcp',
          '127.0.0.1:7778',
          '--data',
          join(dir, 'data'),
          '--api',
          `unix://${join(dir, 'a.sock')}`,
          '--store',
          'consul://127.0.0.1:1',
        ],
        { ns: h.ns, env: { WEFT_TOKEN: undefined } },
      )
      expect(r.code).toBe(2)
      expect(r.stderr.trim()).toMatch(
        /^Error: --api-tcp needs a bearer token: pass --token or set WEFT_TOKEN/,
      )
      expect(existsSync(join(dir, 'a.sock'))).toBe(false)
      expect(existsSync(join(dir, 'data'))).toBe(false)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    void WEFT
  })
})
