// The admin API's error contract through real agents (built binary, host namespaces, the
// embedded store): every refusal is { error, message } — also 404, 405, 415, 431 and a
// malformed request, on the unix socket and on TCP; a body the API takes but the store would
// not is 413 and changes nothing; addresses that cannot work are 400; the TCP API takes the
// bearer scheme in any case. Curl sends the requests, so no client of ours shapes them.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTopology, runIn, type Topology } from '../harness/index.ts'
import { startAgents, type RunningAgent } from '../agent/agents.ts'

const DATAPATH = (process.env.WEFT_TEST_DATAPATH ?? 'bpf') as 'bpf' | 'kernel'
const TOKEN = 'contract-test-token-0123456789'
const TCP_PORT = 7781

interface Answer {
  status: number
  headers: string
  body: any
}

describe(`admin API error contract (${DATAPATH} datapath)`, () => {
  let topo: Topology
  let agents: RunningAgent[]

  beforeAll(async () => {
    topo = await createTopology({ hosts: 2, containersPerHost: 1 })
    agents = await startAgents(topo, {
      datapath: DATAPATH,
      extraArgs: ['--api-tcp', `127.0.0.1:${TCP_PORT}`, '--token', TOKEN],
    })
    const n = await agents[0]!.api('POST', '/v1/networks', {
      name: 'fixed',
      subnet: '10.0.70.0/24',
      vni: 4100,
    })
    expect(n.status).toBe(201)
  }, 60_000)

  afterAll(async () => {
    await topo?.destroy()
  }, 60_000)

  /** curl inside host 1's namespace, to the unix socket or to the TCP listener. */
  const curl = async (via: 'unix' | 'tcp', args: string[], path: string): Promise<Answer> => {
    const a = agents[0]!
    const target =
      via === 'unix'
        ? ['--unix-socket', a.socket, `http://weft${path}`]
        : [`http://127.0.0.1:${TCP_PORT}${path}`]
    const r = await runIn(a.host.ns, ['curl', '-sS', '-D', '-', ...args, ...target])
    const text = r.stdout
    const end = text.indexOf('\r\n\r\n')
    const headers = text.slice(0, end)
    const rawBody = text.slice(end + 4)
    let body: any = rawBody
    try {
      body = JSON.parse(rawBody)
    } catch {}
    return { status: Number(headers.split(' ')[1]), headers, body }
  }

  const expectError = (r: Answer, status: number, error: string, message: RegExp) => {
    expect({ status: r.status, error: r.body?.error }).toEqual({ status, error })
    expect(r.headers).toMatch(/\r\ncontent-type: application\/json/i)
    expect(Object.keys(r.body).sort()).toEqual(['error', 'message'])
    expect(r.body.message).toMatch(message)
  }

  /** What a refused request must not change: networks and endpoints as both agents see them. */
  const snapshot = async () => {
    const out: Record<string, unknown> = {}
    for (const [i, a] of agents.entries()) {
      out[`networks@${i}`] = (await a.api('GET', '/v1/networks')).body
        .map((n: any) => `${n.Id} ${n.Name} ${JSON.stringify(n.Labels)}`)
        .sort()
      out[`endpoints@${i}`] = (await a.api('GET', '/v1/endpoints')).body
        .map((e: any) => `${e.id} ${e.ip} ${e.name} ${e.vtep}`)
        .sort()
    }
    return out
  }

  const auth = ['-H', `Authorization: Bearer ${TOKEN}`]
  for (const via of ['unix', 'tcp'] as const) {
    const a = via === 'tcp' ? auth : []
    test(`${via}: unknown route is 404 JSON`, async () => {
      expectError(
        await curl(via, a, '/v2/things'),
        404,
        'not_found',
        /^no route GET \/v2\/things: see \/openapi\.json$/,
      )
    })

    test(`${via}: wrong method is 405 JSON with Allow`, async () => {
      const r = await curl(via, [...a, '-X', 'DELETE'], '/v1/nodes')
      expectError(r, 405, 'method_not_allowed', /\/v1\/nodes does not take DELETE: use GET, HEAD/)
      expect(r.headers).toMatch(/\r\nallow: GET, HEAD\r?\n?/i)
    })

    test(`${via}: a body that is not JSON is 415 JSON`, async () => {
      const before = await snapshot()
      const r = await curl(
        via,
        [...a, '-H', 'content-type: text/plain', '--data-binary', '{"name":"x"}'],
        '/v1/networks',
      )
      expectError(r, 415, 'unsupported_media_type', /send Content-Type: application\/json/)
      expect(await snapshot()).toEqual(before)
    })

    test(`${via}: oversized headers are 431 JSON`, async () => {
      const r = await curl(via, [...a, '-H', `X-Big: ${'a'.repeat(40_000)}`], '/v1/networks')
      expectError(r, 431, 'headers_too_large', /request headers are too large/)
    })

    test(`${via}: a malformed request is 400 JSON`, async () => {
      // a method token with a space in it: the parser refuses it before any route
      const r = await curl(via, [...a, '-X', 'GE T'], '/v1/networks')
      expectError(r, 400, 'bad_request', /not valid HTTP\/1\.1/)
    })
  }

  test('tcp: the bearer scheme is matched in any case', async () => {
    for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
      const r = await curl('tcp', ['-H', `Authorization: ${scheme} ${TOKEN}`], '/v1/networks')
      expect({ scheme, status: r.status }).toEqual({ scheme, status: 200 })
    }
    expectError(
      await curl('tcp', ['-H', `Authorization: bearer ${TOKEN}x`], '/v1/networks'),
      403,
      'forbidden',
      /wrong bearer token/,
    )
  })

  test('labels under the API limit but over a store transaction: 413, nothing changed', async () => {
    const before = await snapshot()
    const dir = mkdtempSync(join(tmpdir(), `weft-${topo.prefix}-body-`))
    const file = join(dir, 'body.json')
    writeFileSync(file, JSON.stringify({ name: 'huge', labels: { big: 'b'.repeat(600_000) } }))
    let r: Answer
    try {
      r = await curl(
        'unix',
        ['-H', 'content-type: application/json', '--data-binary', `@${file}`],
        '/v1/networks',
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    expectError(
      r,
      413,
      'too_large_for_store',
      /the network record would take \d+ bytes; the cluster store takes at most \d+ .*nothing was changed/,
    )
    expect(await snapshot()).toEqual(before)
  })

  const post = (path: string, body: unknown) =>
    curl(
      'unix',
      ['-H', 'content-type: application/json', '--data-binary', JSON.stringify(body)],
      path,
    )

  test('subnets in reserved space: 400 with the reason, nothing changed', async () => {
    const before = await snapshot()
    for (const [subnet, why] of [
      ['224.0.0.0/24', /multicast/],
      ['127.0.0.0/24', /loopback/],
      ['255.255.255.0/24', /broadcast/],
      ['0.0.0.0/8', /this network/],
    ] as const) {
      expectError(await post('/v1/networks', { name: 'r', subnet }), 400, 'invalid_input', why)
    }
    expect(await snapshot()).toEqual(before)
  })

  test('external VTEPs that cannot work, or that are a weft node: 400 with the reason, nothing changed', async () => {
    const before = await snapshot()
    const ext = (vtep: string) => ({
      ip: '10.0.70.50',
      external: { name: 'ext1', mac: '02:00:00:00:70:50', vtep },
    })
    for (const [vtep, why] of [
      ['0.0.0.0', /this network/],
      ['127.0.0.1', /loopback/],
      ['224.0.0.1', /multicast/],
      ['255.255.255.255', /broadcast/],
    ] as const) {
      expectError(await post('/v1/networks/fixed/connect', ext(vtep)), 400, 'invalid_input', why)
    }
    const other = topo.hosts[1]!
    expectError(
      await post('/v1/networks/fixed/connect', ext(other.underlay.ip)),
      400,
      'invalid_input',
      new RegExp(
        `^vtep ${other.underlay.ip.replaceAll('.', '\\.')} is the address of weft node ${other.node}: connect the container on that node`,
      ),
    )
    expect(await snapshot()).toEqual(before)
  })
})
