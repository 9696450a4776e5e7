// The admin API's error contract, in process (app.request, no socket, no root): every
// answer that is not a success is { error, message }; bad input is refused before the agent
// is asked; store limits are the caller's 413; disk full is a logged 507; fetch's own wording
// never reaches a message. The agent is a fake; the errors it throws are the real ones.
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '@libsql/client'
import { createApp } from '../../src/api/index.ts'
import { MAX_RECORD_BYTES } from '../../src/api/store-limits.ts'
import { ConsulClient, KvHttpError } from '../../src/kv/index.ts'
import { captureLog, fakeAgent, NODE_ADDRESSES } from './api-fake.ts'

const dir = mkdtempSync(join(tmpdir(), 'weft-api-contract-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const setup = () => {
  const agent = fakeAgent()
  const { log, lines } = captureLog()
  const app = createApp(agent, { log })
  const req = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const res = await app.request(path, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    })
    const text = await res.text()
    let json: any
    try {
      json = JSON.parse(text)
    } catch {
      json = text
    }
    return { status: res.status, body: json, headers: res.headers }
  }
  return { agent, lines, req }
}

const expectError = (
  r: { status: number; body: any },
  status: number,
  error: string,
  message: RegExp,
) => {
  expect({ status: r.status, error: r.body?.error }).toEqual({ status, error })
  expect(Object.keys(r.body).sort()).toEqual(['error', 'message'])
  expect(r.body.message).toMatch(message)
}

/** Words of Bun's fetch, undici and Node that must never reach an API message. */
const CLIENT_WORDING =
  /computer|the url|typo|verbose: true|fetch\(\)|Unable to connect|socket connection was closed|fetch failed/i

describe('every refusal is { error, message }', () => {
  test('unknown route: 404 naming the route', async () => {
    const { req } = setup()
    expectError(
      await req('GET', '/nope'),
      404,
      'not_found',
      /^no route GET \/nope: see \/openapi\.json$/,
    )
  })

  test('known path, wrong method: 405 with Allow', async () => {
    const { req, agent } = setup()
    const put = await req('PUT', '/v1/networks', { name: 'x' })
    expectError(
      put,
      405,
      'method_not_allowed',
      /\/v1\/networks does not take PUT: use GET, HEAD, POST/,
    )
    expect(put.headers.get('allow')).toBe('GET, HEAD, POST')
    const get = await req('GET', '/v1/networks/blue/connect')
    expectError(get, 405, 'method_not_allowed', /use POST/)
    expect(get.headers.get('allow')).toBe('POST')
    expect(agent.calls).toEqual([])
  })

  test('a body that is not JSON: 415 saying which Content-Type to send', async () => {
    const { req, agent } = setup()
    const r = await req('POST', '/v1/networks', '{"name":"x"}', { 'content-type': 'text/plain' })
    expectError(r, 415, 'unsupported_media_type', /send Content-Type: application\/json/)
    const noType = await req('POST', '/v1/networks', 'name=x', {
      'content-type': 'application/x-www-form-urlencoded',
    })
    expect(noType.status).toBe(415)
    expect(agent.calls).toEqual([])
  })

  test('a server fault: 500 with the real cause, logged', async () => {
    const { req, agent, lines } = setup()
    agent.failWith('listNetworks', new Error('the mirror is closed'))
    expectError(await req('GET', '/v1/networks'), 500, 'internal', /^the mirror is closed$/)
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['error', 'admin API 500: the mirror is closed'],
    ])
    expect((lines[0]!.obj.err as Error).message).toBe('the mirror is closed')
  })
})

describe("store limits are the caller's 413, checked before anything is written", () => {
  const labels = (bytes: number) => ({ big: 'x'.repeat(bytes) })

  test('labels under the API limit but over one store transaction: 413, agent not asked', async () => {
    const { req, agent } = setup()
    const r = await req('POST', '/v1/networks', { name: 'big', labels: labels(450_000) })
    expectError(
      r,
      413,
      'too_large_for_store',
      new RegExp(
        `at most ${MAX_RECORD_BYTES} .*shorten its labels and options; nothing was changed`,
      ),
    )
    expect(agent.calls).toEqual([])
  })

  test('labels that fit are created (the limit is not too tight)', async () => {
    const { req } = setup()
    const r = await req('POST', '/v1/networks', {
      name: 'fits',
      labels: labels(MAX_RECORD_BYTES - 2048),
    })
    expect(r.status).toBe(201)
  })

  test('a store that still refuses as too large: 413 in our words, not 500', async () => {
    const { req, agent } = setup()
    agent.failWith(
      'createNetwork',
      new KvHttpError(
        'PUT /v1/txn',
        413,
        'Request body(600000 bytes) too large, max size: 524288 bytes. See txn_max_req_len.',
      ),
    )
    expectError(
      await req('POST', '/v1/networks', { name: 'x' }),
      413,
      'too_large_for_store',
      /refused the write as too large.*nothing was changed/,
    )
  })

  test('the record budget fits a base64-encoded record in 512 KiB with room for the other ops', () => {
    expect(Math.ceil(MAX_RECORD_BYTES / 3) * 4).toBeLessThanOrEqual(512 * 1024 - 4096)
    expect(MAX_RECORD_BYTES).toBeGreaterThan(380_000)
  })
})

describe('disk full is a clear 507, logged', () => {
  /** A real libSQL SQLITE_FULL: a database capped at a few pages, filled. */
  async function realSqliteFull(): Promise<Error> {
    const db = createClient({ url: `file:${join(dir, 'full.db')}` })
    try {
      await db.execute('CREATE TABLE t (v BLOB)')
      await db.execute('PRAGMA max_page_count = 8')
      for (let i = 0; i < 100; i++)
        await db.execute({ sql: 'INSERT INTO t VALUES (?)', args: [new Uint8Array(4096)] })
    } catch (e) {
      return e as Error
    } finally {
      db.close()
    }
    throw new Error('the capped database never filled up')
  }

  test("this agent's libSQL is full: 507 disk_full, says where to free space", async () => {
    const full = await realSqliteFull()
    expect(full.message).toMatch(/SQLITE_FULL/)
    const { req, agent, lines } = setup()
    agent.failWith('createNetwork', full)
    const r = await req('POST', '/v1/networks', { name: 'x' })
    expectError(
      r,
      507,
      'disk_full',
      /this agent's disk is full: free space in its --data directory, then retry \(SQLITE_FULL/,
    )
    expect(lines).toHaveLength(1)
    expect(lines[0]!.level).toBe('error')
    expect(lines[0]!.obj).toMatchObject({
      status: 507,
      code: 'disk_full',
      method: 'POST',
      path: '/v1/networks',
    })
  })

  test('the cluster store answers that its disk is full: 507 naming the store', async () => {
    const { req, agent } = setup()
    agent.failWith(
      'connect',
      new KvHttpError('PUT /v1/txn', 500, 'internal error: SQLITE_FULL: database or disk is full'),
    )
    await req('POST', '/v1/networks', { name: 'blue' })
    const r = await req('POST', '/v1/networks/blue/connect', { sandbox: 'c1' })
    expectError(
      r,
      507,
      'disk_full',
      /the cluster store's disk is full: free space in the data directory of the agent that serves the store/,
    )
  })

  test('/healthz reports the full disk until a write succeeds', async () => {
    const { req, agent } = setup()
    expect((await req('GET', '/healthz')).status).toBe(200)
    agent.failWith(
      'createNetwork',
      new KvHttpError('PUT /v1/txn', 500, 'internal error: SQLITE_FULL: database or disk is full'),
    )
    await req('POST', '/v1/networks', { name: 'x' })
    const h = await req('GET', '/healthz')
    expect(h.status).toBe(503)
    expect(h.body.ok).toBe(false)
    expect(h.body.disk).toEqual({
      full: true,
      since: expect.any(String),
      lastError: expect.stringMatching(/^the cluster store's disk is full/),
    })
    agent.failWith('createNetwork', undefined)
    expect((await req('POST', '/v1/networks', { name: 'y' })).status).toBe(201)
    const after = await req('GET', '/healthz')
    expect(after.status).toBe(200)
    expect(after.body.disk).toBeUndefined()
  })

  test('ENOSPC from the file system: 507', async () => {
    const { req, agent } = setup()
    const e = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
    agent.failWith('removeNetwork', e)
    expectError(
      await req('DELETE', '/v1/networks/x'),
      507,
      'disk_full',
      /this agent's disk is full/,
    )
  })
})

describe("the HTTP client's own wording never leaks", () => {
  /** A real StoreUnreachableError: the real client, Bun's real fetch, no listener behind. */
  async function realUnreachable(): Promise<Error> {
    const notASocket = join(dir, 'not-a-socket')
    writeFileSync(notASocket, '')
    const client = new ConsulClient({
      address: 'http://127.0.0.1:8500',
      retries: 0,
      fetch: ((url: string, init: RequestInit) =>
        fetch(url, { ...init, unix: notASocket } as RequestInit)) as typeof fetch,
    })
    try {
      await client.kv.list('weft/v1/networks/')
    } catch (e) {
      return e as Error
    }
    throw new Error('the store answered through a plain file')
  }

  test("store unreachable: 503 in our words (the raw error has Bun's)", async () => {
    const e = await realUnreachable()
    expect(e.message).toMatch(CLIENT_WORDING) // the reproduction: Bun's words are in the raw error
    const { req, agent } = setup()
    agent.failWith('listNetworks', e)
    const r = await req('GET', '/v1/networks')
    expectError(
      r,
      503,
      'store_unreachable',
      /^cannot reach the cluster store at http:\/\/127\.0\.0\.1:8500 \(GET \/v1\/kv\/weft\/v1\/networks\/\): connection refused/,
    )
    expect(r.body.message).not.toMatch(CLIENT_WORDING)
  })

  test('/healthz puts the last errors in our words', async () => {
    const { req, agent } = setup()
    agent.healthReport = {
      ...agent.healthReport,
      ok: false,
      store: {
        reachable: false,
        lastError:
          'GET /v1/kv/x: ECONNREFUSED: Unable to connect. Is the computer able to access the url?',
      },
      reconcile: {
        passes: 3,
        lastDurationMs: 1,
        lastError:
          'ECONNRESET: The socket connection was closed unexpectedly. For more information, pass `verbose: true` in the second argument to fetch()',
      },
    }
    const r = await req('GET', '/healthz')
    expect(r.status).toBe(503)
    expect(r.body.store.lastError).toBe(
      'GET /v1/kv/x: cannot connect (nothing answers on that address and port)',
    )
    expect(r.body.reconcile.lastError).toBe('the connection closed before an answer came')
  })
})

describe('addresses that cannot work are refused with 400 before the agent is asked', () => {
  test('a subnet in reserved space', async () => {
    const { req, agent } = setup()
    for (const subnet of [
      '224.0.0.0/24',
      '127.0.0.0/24',
      '255.255.255.0/24',
      '0.0.0.0/8',
      '169.254.0.0/16',
    ]) {
      expectError(
        await req('POST', '/v1/networks', { name: 'x', subnet }),
        400,
        'invalid_input',
        /^invalid request: subnet: subnet .* overlaps .*: pick a private range/,
      )
    }
    expect(agent.calls).toEqual([])
  })

  test('an external VTEP that is not a unicast address', async () => {
    const { req, agent } = setup()
    for (const vtep of ['0.0.0.0', '127.0.0.1', '224.0.0.1', '255.255.255.255']) {
      const r = await req('POST', '/v1/networks/blue/connect', {
        ip: '10.0.1.9',
        external: { name: 'ext', mac: '02:00:00:00:00:09', vtep },
      })
      expectError(
        r,
        400,
        'invalid_input',
        new RegExp(`external\\.vtep: vtep ${vtep.replaceAll('.', '\\.')} is in `),
      )
    }
    expect(agent.calls).toEqual([])
  })

  test("an external VTEP that is a weft node's own address names the node", async () => {
    const { req, agent } = setup()
    await req('POST', '/v1/networks', { name: 'blue' })
    const r = await req('POST', '/v1/networks/blue/connect', {
      ip: '10.0.1.9',
      external: { name: 'ext', mac: '02:00:00:00:00:09', vtep: NODE_ADDRESSES.h2 },
    })
    expectError(
      r,
      400,
      'invalid_input',
      /^vtep 192\.168\.50\.2 is the address of weft node h2: connect the container on that node/,
    )
    expect(agent.calls).not.toContain('connect')
    const ok = await req('POST', '/v1/networks/blue/connect', {
      ip: '10.0.1.9',
      external: { name: 'ext', mac: '02:00:00:00:00:09', vtep: '192.168.50.77' },
    })
    expect(ok.status).toBe(201)
  })
})
