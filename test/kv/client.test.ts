// Our Consul client against our server: KV, txn, sessions (keep-alive), watch snapshots and
// latency, and failure handling: StoreUnreachableError, backoff while the server is down,
// index reset after a server change, index 0 guard, rate limit, no blind write retries.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import {
  ConsulClient,
  KvHttpError,
  StoreUnreachableError,
  TxnConflictError,
  entryText,
  serveKv,
  type PrefixSnapshot,
} from '../../src/kv/index.ts'
import { ValidationError } from '../../src/errors/index.ts'
import { startTestServer, uniq, waitFor, type TestServer } from './helpers.ts'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

let srv: TestServer
let client: ConsulClient
const stops: (() => unknown)[] = []

beforeAll(async () => {
  srv = await startTestServer()
  client = new ConsulClient({ address: srv.kv.url })
})
afterAll(async () => {
  for (const s of stops.reverse()) await s()
  await srv?.cleanup()
})

/** A port nothing listens on (bound once, then released). */
function freePort(): number {
  const s = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('') })
  const port = s.port!
  s.stop(true)
  return port
}

/** A stub HTTP server for failure modes our real server never produces. */
function stub(fetch: (req: Request) => Response | Promise<Response>) {
  const s = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch })
  stops.push(() => s.stop(true))
  return `http://127.0.0.1:${s.port}`
}

describe('client KV', () => {
  test('put/get/getRaw/list/keys/delete with u64 flags', async () => {
    const p = uniq('c/kv')
    const flags = 0x2ddccbc058a50c18n
    expect(await client.kv.put(`${p}/a`, 'A', { flags })).toBe(true)
    expect(await client.kv.put(`${p}/b`, new Uint8Array([0, 255, 1]))).toBe(true)
    expect(await client.kv.put(`${p}/sub/c`, '')).toBe(true)
    const a = await client.kv.get(`${p}/a`)
    expect(a.value && entryText(a.value)).toBe('A')
    expect(a.value?.flags).toBe(flags)
    expect(a.index).toBe(a.value!.modifyIndex)
    expect((await client.kv.getRaw(`${p}/b`)).value).toEqual(new Uint8Array([0, 255, 1]))
    expect((await client.kv.get(`${p}/sub/c`)).value?.value.length).toBe(0)
    expect((await client.kv.list(`${p}/`)).value.map((e) => e.key)).toEqual([
      `${p}/a`,
      `${p}/b`,
      `${p}/sub/c`,
    ])
    expect((await client.kv.keys(`${p}/`, { separator: '/' })).value).toEqual([
      `${p}/a`,
      `${p}/b`,
      `${p}/sub/`,
    ])
    const missing = await client.kv.get(`${p}/none`)
    expect(missing.value).toBeUndefined()
    expect(missing.index).toBeGreaterThanOrEqual(1n)
    expect((await client.kv.list(`${p}/none/`)).value).toEqual([])
    expect(await client.kv.delete(`${p}/`, { recurse: true })).toBe(true)
    expect((await client.kv.list(`${p}/`)).value).toEqual([])
  })

  test('keys with spaces, unicode and %-signs round-trip', async () => {
    const k = uniq('c/odd') + '/a b/ü%20/x?y#z'
    expect(await client.kv.put(k, 'v')).toBe(true)
    expect((await client.kv.get(k)).value?.key).toBe(k)
  })

  test('cas and acquire/release return false when refused', async () => {
    const k = uniq('c/cas')
    expect(await client.kv.put(k, '1', { cas: 0n })).toBe(true)
    expect(await client.kv.put(k, '2', { cas: 0n })).toBe(false)
    const cur = (await client.kv.get(k)).value!
    expect(await client.kv.put(k, '2', { cas: cur.modifyIndex })).toBe(true)
    expect(await client.kv.delete(k, { cas: cur.modifyIndex })).toBe(false)
    const s = await client.session.create({ lockDelayMs: 0 })
    const l = uniq('c/lock')
    expect(await client.kv.put(l, 'me', { acquire: s })).toBe(true)
    expect((await client.kv.get(l)).value?.session).toBe(s)
    expect(await client.kv.put(l, 'bye', { release: s })).toBe(true)
    expect((await client.kv.get(l)).value?.session).toBeUndefined()
    await client.session.destroy(s)
  })
})

describe('client txn', () => {
  test('returns result entries; rollback raises TxnConflictError naming every failing op', async () => {
    const p = uniq('c/txn')
    const res = await client.txn([
      { verb: 'set', key: `${p}/a`, value: 'A', flags: 1n },
      { verb: 'cas', key: `${p}/b`, value: 'B', index: 0n },
      { verb: 'get', key: `${p}/a` },
    ])
    expect(res.map((e) => e.key)).toEqual([`${p}/a`, `${p}/b`, `${p}/a`])
    expect(entryText(res[2]!)).toBe('A')
    let err: unknown
    try {
      await client.txn([
        { verb: 'set', key: `${p}/c`, value: 'C' },
        { verb: 'check-not-exists', key: `${p}/a` },
        { verb: 'cas', key: `${p}/b`, value: 'x', index: 1n },
      ])
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(TxnConflictError)
    const c = err as TxnConflictError
    expect(c.errors.map((e) => e.opIndex)).toEqual([1, 2])
    expect(c.errors[0]!.op?.key).toBe(`${p}/a`)
    expect(c.message).toContain('check-not-exists')
    expect((await client.kv.get(`${p}/c`)).value).toBeUndefined()
  })

  test('more than 64 ops is refused client-side', async () => {
    const ops = Array.from({ length: 65 }, (_, i) => ({
      verb: 'get-or-empty' as const,
      key: `c/x/${i}`,
    }))
    await expect(client.txn(ops)).rejects.toBeInstanceOf(ValidationError)
  })
})

describe('client sessions', () => {
  test('create/info/renew/destroy; renew of a gone session is undefined', async () => {
    const id = await client.session.create({
      name: 'c-sess',
      ttlMs: 10_000,
      behavior: 'delete',
      lockDelayMs: 1000,
    })
    const info = (await client.session.info(id)).value!
    expect(info.behavior).toBe('delete')
    expect(info.lockDelayNs).toBe(1_000_000_000n)
    expect(info.nodeChecks).toBeNull()
    const renewed = await client.session.renew(id)
    expect(renewed?.ttl).toBe('10000ms')
    expect((await client.session.all()).value.some((s) => s.id === id)).toBe(true)
    await client.session.destroy(id)
    expect((await client.session.info(id)).value).toBeUndefined()
    expect(await client.session.renew(id)).toBeUndefined()
  })

  test('keepAlive holds a 1 s TTL session past 2 x TTL; after stop it expires; onLost fires when destroyed', async () => {
    const id = await client.session.create({ ttlMs: 1000, behavior: 'delete' })
    const k = uniq('c/ephemeral')
    await client.kv.put(k, 'here', { acquire: id })
    const ka = client.session.keepAlive(id, 1000)
    const t0 = performance.now()
    await waitFor(
      async () =>
        performance.now() - t0 > 3000 && (await client.session.info(id)).value !== undefined,
      {
        what: 'session alive after 3 s',
        timeoutMs: 6000,
        everyMs: 200,
      },
    )
    ka.stop()
    await ka.done
    await waitFor(async () => (await client.kv.get(k)).value === undefined, {
      what: 'ephemeral key gone after expiry',
      timeoutMs: 5000,
    })

    const id2 = await client.session.create({ ttlMs: 1000 })
    let lost = false
    const ka2 = client.session.keepAlive(id2, 1000, { onLost: () => (lost = true) })
    await client.session.destroy(id2)
    await waitFor(() => lost, { what: 'onLost', timeoutMs: 3000 })
    await ka2.done
  }, 20_000)
})

describe('client watch', () => {
  test('delivers the initial snapshot and every change; stop() ends it and frees the server', async () => {
    const p = uniq('c/watch')
    await client.kv.put(`${p}/a`, '1')
    const snaps: PrefixSnapshot[] = []
    const w = client.watch(`${p}/`, (s) => void snaps.push(s))
    await waitFor(() => snaps.length === 1, { what: 'initial snapshot' })
    expect(snaps[0]!.entries.map((e) => entryText(e))).toEqual(['1'])
    await client.kv.put(`${p}/b`, '2')
    await waitFor(() => snaps.at(-1)?.entries.length === 2, { what: 'snapshot with b' })
    await client.kv.delete(`${p}/a`)
    await waitFor(
      () =>
        snaps
          .at(-1)
          ?.entries.map((e) => e.key)
          .join() === `${p}/b`,
      { what: 'snapshot after delete' },
    )
    for (let i = 1; i < snaps.length; i++)
      expect(snaps[i]!.index).toBeGreaterThan(snaps[i - 1]!.index)
    // an unrelated write elsewhere does not produce a snapshot here
    const n = snaps.length
    await client.kv.put(uniq('c/elsewhere'), 'x')
    await client.kv.put(`${p}/b`, '2') // identical: no-op, no index move
    expect(snaps.length).toBe(n)
    w.stop()
    await w.done
    await waitFor(() => srv.kv.stats().waiters === 0, { what: 'server released the parked query' })
  })

  test('write -> watcher latency (p50 < 50 ms)', async () => {
    const p = uniq('c/lat')
    let latest = ''
    let seen: (() => void) | undefined
    const w = client.watch(
      `${p}/`,
      (s) => {
        latest = s.entries.map((e) => entryText(e)).join()
        seen?.()
      },
      { rateLimit: { burst: 1000, perSecond: 1000 } },
    )
    await client.kv.put(`${p}/k`, 'start')
    await waitFor(() => latest === 'start', { what: 'watch ready' })
    const times: number[] = []
    for (let i = 0; i < 100; i++) {
      const got = new Promise<void>((r) => (seen = () => latest === `v${i}` && r()))
      const t0 = performance.now()
      await client.kv.put(`${p}/k`, `v${i}`)
      await got
      times.push(performance.now() - t0)
    }
    w.stop()
    await w.done
    times.sort((a, b) => a - b)
    console.log(
      `[kv] write->watch latency: p50 ${times[50]!.toFixed(2)} ms, p99 ${times[98]!.toFixed(2)} ms, max ${times[99]!.toFixed(2)} ms`,
    )
    expect(times[50]!).toBeLessThan(50)
  })

  test('the watch rate limit caps the loop when the index keeps moving', async () => {
    let n = 0
    const url = stub(
      () =>
        new Response('[]', {
          headers: { 'X-Consul-Index': String(++n), 'Content-Type': 'application/json' },
        }),
    )
    const c = new ConsulClient({ address: url })
    let deliveries = 0
    const t0 = performance.now()
    const w = c.watch('x/', () => void deliveries++, { rateLimit: { burst: 2, perSecond: 5 } })
    await waitFor(() => performance.now() - t0 >= 1000, { what: '1 s of watching', everyMs: 50 })
    w.stop()
    await w.done
    const elapsed = (performance.now() - t0) / 1000
    // identical empty snapshots are deduplicated, so count requests instead
    expect(n).toBeLessThanOrEqual(2 + Math.ceil(5 * elapsed) + 1)
    expect(deliveries).toBe(1)
  })
})

describe('client failures', () => {
  test('connection failure raises StoreUnreachableError naming the address and --store', async () => {
    const port = freePort()
    const c = new ConsulClient({
      address: `127.0.0.1:${port}`,
      retries: 1,
      retryBackoff: { baseMs: 5, maxMs: 10 },
    })
    let err: unknown
    try {
      await c.kv.get('x')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(StoreUnreachableError)
    const msg = (err as Error).message
    expect(msg).toContain(`http://127.0.0.1:${port}`)
    expect(msg).toContain('GET /v1/kv/x')
    expect(msg).toContain("is the store's agent running? check --store")
  })

  test('HTTP errors name the endpoint and status; writes are not retried, reads are', async () => {
    const hits: Record<string, number> = {}
    const url = stub((req) => {
      const m = req.method
      hits[m] = (hits[m] ?? 0) + 1
      return new Response('boom', { status: 500 })
    })
    const c = new ConsulClient({ address: url, retries: 2, retryBackoff: { baseMs: 5, maxMs: 10 } })
    const put = await c.kv.put('w', 'x').catch((e) => e)
    expect(put).toBeInstanceOf(KvHttpError)
    expect(put.message).toContain('PUT /v1/kv/w failed: HTTP 500: boom')
    expect(hits.PUT).toBe(1)
    const get = await c.kv.get('r').catch((e) => e)
    expect(get.status).toBe(500)
    expect(hits.GET).toBe(3)
  })

  test('403 surfaces as KvHttpError with a token hint', async () => {
    const own = await startTestServer({ token: 'right' })
    stops.push(() => own.cleanup())
    const e = await new ConsulClient({ address: own.kv.url, token: 'wrong' }).kv
      .put('k', 'v')
      .catch((x) => x)
    expect(e).toBeInstanceOf(KvHttpError)
    expect(e.status).toBe(403)
    expect(e.message).toContain('ACL not found')
    expect(await new ConsulClient({ address: own.kv.url, token: 'right' }).kv.put('k', 'v')).toBe(
      true,
    )
  })

  test('watch backs off (capped, jittered) while the server is down and recovers when it starts', async () => {
    const port = freePort()
    const dir = mkdtempSync(join(tmpdir(), 'weft-kv-down-'))
    stops.push(() => rmSync(dir, { recursive: true, force: true }))
    const c = new ConsulClient({ address: `127.0.0.1:${port}` })
    const errorsAt: number[] = []
    let snap: PrefixSnapshot | undefined
    const w = c.watch('down/', (s) => void (snap = s), {
      backoff: { baseMs: 20, maxMs: 160 },
      onError: (e) => {
        expect(e).toBeInstanceOf(StoreUnreachableError)
        errorsAt.push(performance.now())
      },
    })
    await waitFor(() => errorsAt.length >= 8, { what: '8 failed rounds', timeoutMs: 5000 })
    const gaps = errorsAt.slice(1).map((t, i) => t - errorsAt[i]!)
    // delay n = min(160, 20 * 2^n) with equal jitter in [d/2, d]
    expect(gaps[0]!).toBeGreaterThanOrEqual(9)
    expect(gaps[3]!).toBeGreaterThanOrEqual(75)
    for (const g of gaps) expect(g).toBeLessThan(160 + 100)
    const kv = await serveKv({
      dbPath: join(dir, 'kv.db'),
      nodeName: 'late',
      advertise: '127.0.0.1:1',
      hostname: '127.0.0.1',
      port,
    })
    stops.push(() => kv.stop())
    await new ConsulClient({ address: kv.url }).kv.put('down/k', 'up')
    await waitFor(() => snap?.entries[0] && entryText(snap.entries[0]) === 'up', {
      what: 'watch recovered',
      timeoutMs: 3000,
    })
    w.stop()
    await w.done
  })

  test('index reset: after switching to a server with lower indexes the watch re-delivers its state', async () => {
    const a = await startTestServer()
    stops.push(() => a.cleanup())
    const port = a.kv.port
    const ca = new ConsulClient({ address: a.kv.url })
    for (let i = 0; i < 30; i++) await ca.kv.put(`other/${i}`, 'x')
    await ca.kv.put('reset/k', 'from-a')
    const c = new ConsulClient({ address: a.kv.url })
    let snap: PrefixSnapshot | undefined
    // B holds a query whose index (from A) is above its own until the wait ends, then answers
    // with its lower index: the client must reset to 0 and re-read. Short wait keeps it quick.
    const w = c.watch('reset/', (s) => void (snap = s), {
      backoff: { baseMs: 10, maxMs: 50 },
      waitMs: 300,
    })
    await waitFor(() => snap && entryText(snap.entries[0]!) === 'from-a', {
      what: 'snapshot from a',
    })
    const highIndex = snap!.index
    await a.kv.stop()
    const dir = mkdtempSync(join(tmpdir(), 'weft-kv-b-'))
    stops.push(() => rmSync(dir, { recursive: true, force: true }))
    const b = await serveKv({
      dbPath: join(dir, 'kv.db'),
      nodeName: 'b',
      advertise: '127.0.0.1:1',
      hostname: '127.0.0.1',
      port,
    })
    stops.push(() => b.stop())
    await new ConsulClient({ address: b.url }).kv.put('reset/k', 'from-b')
    await waitFor(() => snap && entryText(snap.entries[0]!) === 'from-b', {
      what: 'snapshot from b after reset',
      timeoutMs: 5000,
    })
    expect(snap!.index).toBeLessThan(highIndex)
    w.stop()
    await w.done
  })

  test('X-Consul-Index 0 is an error (busy-loop guard), not a delivery', async () => {
    const url = stub(
      () =>
        new Response('[]', {
          headers: { 'X-Consul-Index': '0', 'Content-Type': 'application/json' },
        }),
    )
    const errs: unknown[] = []
    let delivered = 0
    const w = new ConsulClient({ address: url }).watch('z/', () => void delivered++, {
      backoff: { baseMs: 5, maxMs: 10 },
      onError: (e) => errs.push(e),
    })
    await waitFor(() => errs.length >= 2, { what: 'index-0 errors' })
    w.stop()
    await w.done
    expect(delivered).toBe(0)
    expect(String(errs[0])).toContain('X-Consul-Index is missing or 0')
  })
})

describe('portable keys', () => {
  test('assertPortableKey accepts our layout and rejects what some Consul versions refuse', async () => {
    const { assertPortableKey } = await import('../../src/kv/index.ts')
    for (const ok of [
      'weft/v1/networks/abc',
      'weft/v1/ipam/n1/10.0.0.2',
      'weft/v1/subnets/10.0.0.0_24',
    ])
      expect(() => assertPortableKey(ok)).not.toThrow()
    for (const bad of ['', '/lead', 'a//b', 'a/../b', 'a b', 'ü', 'x/config.json', 'fd00::1'])
      expect(() => assertPortableKey(bad)).toThrow(ValidationError)
  })
})
