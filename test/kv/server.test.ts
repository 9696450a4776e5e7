// Behaviour specific to our server (the decisions in src/kv/server/index.ts), beyond the
// shared contract: no-op writes, LockIndex, parked-request release, Bun idle timeout,
// wait clamping, tombstone reaping, request validation, concurrency, write latency.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createKvServer } from '../../src/kv/index.ts'
import { b64, http, startTestServer, uniq, waitFor, type TestServer } from './helpers.ts'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

let srv: TestServer
const url = () => srv.kv.url
const idx = (r: { headers: Headers }) => BigInt(r.headers.get('x-consul-index') ?? '0')

beforeAll(async () => {
  srv = await startTestServer({ tombstoneTtlMs: 150 })
})
afterAll(async () => {
  await srv?.cleanup()
})

describe('kv server decisions', () => {
  test('an identical write consumes no index and does not move ModifyIndex', async () => {
    const k = uniq('s/noop')
    await http(url(), 'PUT', `/v1/kv/${k}?flags=3`, { body: 'same' })
    const before = srv.kv.stats().index
    const e1 = (await http(url(), 'GET', `/v1/kv/${k}`)).json[0]
    await http(url(), 'PUT', `/v1/kv/${k}?flags=3`, { body: 'same' })
    expect(srv.kv.stats().index).toBe(before)
    expect((await http(url(), 'GET', `/v1/kv/${k}`)).json[0].ModifyIndex).toBe(e1.ModifyIndex)
  })

  test('a plain write on a locked key keeps Session and LockIndex', async () => {
    const k = uniq('s/lockidx')
    const s = (
      await http(url(), 'PUT', '/v1/session/create', { body: '{"LockDelay":"0s","Checks":[]}' })
    ).json.ID
    await http(url(), 'PUT', `/v1/kv/${k}?acquire=${s}`, { body: 'a' })
    await http(url(), 'PUT', `/v1/kv/${k}`, { body: 'b' })
    const e = (await http(url(), 'GET', `/v1/kv/${k}`)).json[0]
    expect(e.Session).toBe(s)
    expect(e.LockIndex).toBe(1)
  })

  test('all writes of one txn and of one session invalidation share one index', async () => {
    const p = uniq('s/oneidx')
    const s = (
      await http(url(), 'PUT', '/v1/session/create', { body: '{"LockDelay":"0s","Checks":[]}' })
    ).json.ID
    for (const k of ['a', 'b', 'c'])
      await http(url(), 'PUT', `/v1/kv/${p}/${k}?acquire=${s}`, { body: k })
    const before = srv.kv.stats().index
    await http(url(), 'PUT', `/v1/session/destroy/${s}`)
    expect(srv.kv.stats().index).toBe(before + 1n)
    const list = (await http(url(), 'GET', `/v1/kv/${p}/?recurse`)).json
    expect(new Set(list.map((e: any) => e.ModifyIndex)).size).toBe(1)
  })

  test('a parked request is released when its client disconnects', async () => {
    const k = uniq('s/disconnect')
    await http(url(), 'PUT', `/v1/kv/${k}`, { body: 'v' })
    const i = idx(await http(url(), 'GET', `/v1/kv/${k}`))
    const base = srv.kv.stats().waiters
    const ac = new AbortController()
    const pending = http(url(), 'GET', `/v1/kv/${k}?index=${i}&wait=60s`, {
      signal: ac.signal,
    }).catch(() => 'aborted')
    await waitFor(() => srv.kv.stats().waiters === base + 1, { what: 'request parked' })
    ac.abort()
    expect(await pending).toBe('aborted')
    await waitFor(() => srv.kv.stats().waiters === base, { what: 'parked request released' })
  })

  test('a blocking query outlives Bun idleTimeout and wait is clamped to maxWait', async () => {
    // Measured: Bun cuts an idle request with idleTimeout 2 s after ~4 s (ECONNRESET) unless
    // the handler lifts it with server.timeout(req, 0), which blocking queries do.
    const own = await startTestServer({ idleTimeout: 2, maxWaitMs: 5000 })
    try {
      const k = uniq('s/idle')
      await http(own.kv.url, 'PUT', `/v1/kv/${k}`, { body: 'v' })
      const i = idx(await http(own.kv.url, 'GET', `/v1/kv/${k}`))
      // wait=20m is clamped to maxWaitMs=5000 (+ jitter <= 1/16), past the ~4 s idle cut.
      const r = await http(own.kv.url, 'GET', `/v1/kv/${k}?index=${i}&wait=20m`)
      expect(r.status).toBe(200)
      expect(idx(r)).toBe(i)
      expect(r.ms).toBeGreaterThanOrEqual(4950)
      expect(r.ms).toBeLessThan(5000 * (1 + 1 / 16) + 500)
    } finally {
      await own.cleanup()
    }
  }, 15_000)

  test('reaped tombstones never make a prefix index go backwards', async () => {
    const p = uniq('s/reap')
    await http(url(), 'PUT', `/v1/kv/${p}/a`, { body: '' })
    await http(url(), 'PUT', `/v1/kv/${p}/b`, { body: '' })
    await http(url(), 'DELETE', `/v1/kv/${p}/b`)
    const before = idx(await http(url(), 'GET', `/v1/kv/${p}/?recurse`))
    await waitFor(() => srv.kv.stats().tombstones === 0, {
      what: 'tombstone reap',
      timeoutMs: 5000,
    })
    const after = idx(await http(url(), 'GET', `/v1/kv/${p}/?recurse`))
    expect(after).toBeGreaterThanOrEqual(before)
    const missing = idx(await http(url(), 'GET', `/v1/kv/${p}/b`))
    expect(missing).toBeGreaterThanOrEqual(before)
  })

  test('request validation: dc, ns, stale+consistent, traversal, txn op shape, Node ops', async () => {
    expect((await http(url(), 'GET', '/v1/kv/x?dc=elsewhere')).status).toBe(500)
    expect((await http(url(), 'GET', '/v1/kv/x?ns=team')).status).toBe(400)
    expect((await http(url(), 'GET', '/v1/kv/x?stale&consistent')).status).toBe(400)
    expect((await http(url(), 'GET', '/v1/kv/a%2F..%2Fb')).status).toBe(400)
    expect((await http(url(), 'PUT', '/v1/kv/x?flags=-1', { body: '' })).status).toBe(400)
    expect(
      (await http(url(), 'PUT', '/v1/txn', { body: '[{"KV":{"Verb":"frobnicate","Key":"k"}}]' }))
        .status,
    ).toBe(400)
    expect(
      (
        await http(url(), 'PUT', '/v1/txn', {
          body: '[{"KV":{"Verb":"set","Key":"k","Value":"not base64!"}}]',
        })
      ).status,
    ).toBe(400)
    expect(
      (await http(url(), 'PUT', '/v1/txn', { body: '[{"Node":{"Verb":"get"}}]' })).status,
    ).toBe(400)
    expect((await http(url(), 'PUT', '/v1/session/create', { body: '{"TTL":"1ms"}' })).status).toBe(
      500,
    )
    expect(
      (await http(url(), 'PUT', '/v1/session/create', { body: '{"Behavior":"explode"}' })).status,
    ).toBe(500)
    expect((await http(url(), 'PUT', '/v1/session/create', { body: '{bad' })).status).toBe(400)
    const opt = await http(url(), 'OPTIONS', '/v1/txn')
    expect(opt.headers.get('allow')).toBe('PUT')
  })

  test('txn fields match case-insensitively and u64 Flags/Index survive beyond 2^53', async () => {
    const k = uniq('s/u64')
    const r = await http(url(), 'PUT', '/v1/txn', {
      body: `[{"kv":{"verb":"set","key":"${k}","value":"${b64('x')}","flags":18446744073709551615}}]`,
    })
    expect(r.status).toBe(200)
    expect(r.text).toContain('"Flags":18446744073709551615')
    const mi = BigInt((await http(url(), 'GET', `/v1/kv/${k}`)).json[0].ModifyIndex)
    const chk = await http(url(), 'PUT', '/v1/txn', {
      body: `[{"KV":{"Verb":"check-index","Key":"${k}","Index":${mi}}}]`,
    })
    expect(chk.status).toBe(200)
    // read-only txn carries KnownLeader but no index
    expect(chk.headers.get('x-consul-knownleader')).toBe('true')
    expect(chk.headers.get('x-consul-index')).toBeNull()
  })

  test('concurrent cas=0 creates: exactly one wins', async () => {
    const k = uniq('s/race')
    const rs = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        http(url(), 'PUT', `/v1/kv/${k}?cas=0`, { body: String(i) }),
      ),
    )
    expect(rs.filter((r) => r.json === true)).toHaveLength(1)
  })

  test('createKvServer works without a listener (app.request)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-kv-app-'))
    const kv = await createKvServer({
      dbPath: join(dir, 'kv.db'),
      nodeName: 'n',
      advertise: '127.0.0.1:1',
    })
    try {
      expect(
        (await kv.fetch(new Request('http://x/v1/kv/a', { method: 'PUT', body: 'z' }))).status,
      ).toBe(200)
      const r = await kv.fetch(new Request('http://x/v1/kv/a?raw'))
      expect(await r.text()).toBe('z')
    } finally {
      await kv.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('write latency: sequential PUTs (one SQL transaction each)', async () => {
    const k = uniq('s/lat')
    const times: number[] = []
    for (let i = 0; i < 200; i++)
      times.push((await http(url(), 'PUT', `/v1/kv/${k}/${i % 10}`, { body: `v${i}` })).ms)
    times.sort((a, b) => a - b)
    const p50 = times[100]!
    const p99 = times[198]!
    console.log(`[kv] PUT latency over HTTP: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms`)
    expect(p50).toBeLessThan(20)
  })
})
