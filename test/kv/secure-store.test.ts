// The embedded store secured by the cluster secret, in-process on 127.0.0.1: every request
// without the token is refused and changes nothing; with it everything works; a client with
// only the join token verifies the store by the pinned CA digest and refuses a stranger's
// certificate (wrong CA, or the real CA's certificate in front of a stranger's key) before it
// sends the token.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  ConsulClient,
  KvHttpError,
  StoreIdentityError,
  clientOptionsFromJoinToken,
  ensureClusterSecret,
  entryText,
  serveKv,
  type ClusterSecret,
  type ServedKv,
} from '../../src/kv/index.ts'
import { createCa, issueServerCert } from '../../src/kv/secure/x509.ts'
import { waitFor } from './helpers.ts'

const dir = mkdtempSync(join(tmpdir(), 'weft-kv-secure-'))
let secret: ClusterSecret
let kv: ServedKv
let hostPort: string
const stops: (() => unknown)[] = []

beforeAll(async () => {
  secret = ensureClusterSecret(join(dir, 'data'), { hosts: ['127.0.0.1'] })
  kv = await serveKv({
    dbPath: join(dir, 'kv.db'),
    nodeName: 'secure-test',
    advertise: '127.0.0.1:8500',
    hostname: '127.0.0.1',
    port: 0,
    sessionTtlMinMs: 1000,
    token: secret.token,
    tls: secret.tls,
  })
  hostPort = `127.0.0.1:${kv.port}`
})
afterAll(async () => {
  for (const s of stops.reverse()) await s()
  await kv?.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** A stranger does not verify the server: it only wants in. */
async function stranger(
  method: string,
  path: string,
  o: { body?: string; headers?: Record<string, string> } = {},
) {
  const r = await fetch(`https://${hostPort}${path}`, {
    method,
    body: o.body,
    headers: o.headers,
    tls: { rejectUnauthorized: false },
  } as RequestInit)
  return { status: r.status, text: await r.text() }
}

const ATTEMPTS: [string, string, string?][] = [
  ['GET', '/v1/kv/weft/v1/endpoints/n1/ep1'],
  ['PUT', '/v1/kv/weft/v1/endpoints/n1/ep1', '{"vtep":"203.0.113.9"}'],
  ['DELETE', '/v1/kv/weft/v1/nodes/h1'],
  ['GET', '/v1/kv/?recurse'],
  ['GET', '/v1/kv/?keys'],
  ['PUT', '/v1/txn', JSON.stringify([{ KV: { Verb: 'set', Key: 'weft/v1/x', Value: 'eA==' } }])],
  ['PUT', '/v1/txn', JSON.stringify([{ KV: { Verb: 'get-tree', Key: 'weft/' } }])],
  ['PUT', '/v1/session/create', '{"TTL":"10s","Checks":[]}'],
  ['GET', '/v1/session/list'],
  ['GET', '/v1/status/leader'],
  ['GET', '/v1/status/peers'],
  ['GET', '/v1/agent/self'],
  ['GET', '/v1/no/such/route'],
]

describe('embedded store with the cluster secret', () => {
  test('serves https only', async () => {
    expect(kv.url).toBe(`https://${hostPort}`)
    const plain = await fetch(`http://${hostPort}/v1/status/leader`).then(
      (r) => `HTTP ${r.status}`,
      (e) => `error ${e.code ?? e.message}`,
    )
    expect(plain).toStartWith('error')
  })

  test('every request without the token (KV, txn, session, status, agent) is 403 and changes nothing', async () => {
    const owner = new ConsulClient(secret.clientOptions(kv.url))
    await owner.kv.put('weft/v1/endpoints/n1/ep1', '{"vtep":"198.18.0.1"}')
    const before = kv.stats()
    for (const [method, path, body] of ATTEMPTS) {
      const guesses: Record<string, string>[] = [
        {},
        { 'X-Consul-Token': 'f'.repeat(64) },
        { Authorization: 'Bearer guess' },
      ]
      for (const headers of guesses) {
        const r = await stranger(method, path, { body, headers })
        expect({ method, path, headers, status: r.status }).toEqual({
          method,
          path,
          headers,
          status: 403,
        })
        expect(r.text).toMatch(/^(Permission denied|ACL not found)/)
      }
      const q = await stranger(method, `${path}${path.includes('?') ? '&' : '?'}token=wrong`, {
        body,
      })
      expect(q.status).toBe(403)
    }
    expect(kv.stats()).toEqual(before)
    const ep = await owner.kv.get('weft/v1/endpoints/n1/ep1')
    expect(ep.value && entryText(ep.value)).toBe('{"vtep":"198.18.0.1"}')
  })

  test('with the token, in each of Consul spellings, requests work', async () => {
    const t = secret.token
    const ok = async (path: string, headers: Record<string, string>) =>
      (await fetch(`${kv.url}${path}`, { headers, tls: { ca: secret.tls.ca } } as RequestInit))
        .status
    expect(await ok('/v1/status/leader', { 'X-Consul-Token': t })).toBe(200)
    expect(await ok(`/v1/status/leader?token=${t}`, {})).toBe(200)
    expect(await ok('/v1/status/leader', { Authorization: `Bearer ${t}` })).toBe(200)
    expect(await ok('/v1/status/leader', { Authorization: `bearer ${t}` })).toBe(200)
    expect(await ok('/v1/status/leader', { Authorization: `Basic ${t}` })).toBe(403)
  })

  test('a client with only the join token verifies the store and works (KV, txn, session, status)', async () => {
    const c = new ConsulClient(clientOptionsFromJoinToken(secret.joinToken, `consul://${hostPort}`))
    expect(c.address).toBe(`https://${hostPort}`)
    expect(await c.kv.put('joined/a', 'A')).toBe(true)
    expect(entryText((await c.kv.get('joined/a')).value!)).toBe('A')
    const [entry] = await c.txn([{ verb: 'get', key: 'joined/a' }])
    expect(entry && entryText(entry)).toBe('A')
    const s = await c.session.create({ ttlMs: 10_000 })
    expect((await c.session.info(s)).value?.id).toBe(s)
    await c.session.destroy(s)
    expect((await c.session.info(s)).value).toBeUndefined()
    expect(await c.leader()).toBe('127.0.0.1:8500')
  })

  test('a joined client watches over TLS: blocking queries park and wake on a write', async () => {
    const c = new ConsulClient(clientOptionsFromJoinToken(secret.joinToken, `consul://${hostPort}`))
    const seen: string[][] = []
    const w = c.watch('watched/', (snap) => void seen.push(snap.entries.map((e) => entryText(e))))
    await waitFor(() => seen.length === 1 && kv.stats().waiters === 1, {
      what: 'the initial snapshot and a parked blocking query',
    })
    await c.kv.put('watched/a', 'A')
    await waitFor(() => seen.at(-1)?.join() === 'A', { what: 'the watch to deliver the write' })
    w.stop()
    await w.done
    await waitFor(() => kv.stats().waiters === 0, {
      what: 'the server to release the parked query',
    })
  })

  test('the joined client keeps one TLS connection for many requests (no handshake per request)', async () => {
    const clientPorts = new Set<number>()
    const counting = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      tls: { cert: secret.tls.cert, key: secret.tls.key },
      fetch: (req, srv) => {
        clientPorts.add(srv.requestIP(req)!.port)
        return kv.server.fetch(req)
      },
    })
    stops.push(() => counting.stop(true))
    const c = new ConsulClient(
      clientOptionsFromJoinToken(secret.joinToken, `consul://127.0.0.1:${counting.port}`),
    )
    for (let i = 0; i < 20; i++) await c.kv.get('joined/a')
    expect(clientPorts.size).toBe(1)
  })

  test('the joining client refuses http:// and a malformed token', () => {
    expect(() => clientOptionsFromJoinToken(secret.joinToken, `http://${hostPort}`)).toThrow(
      /TLS only/,
    )
    expect(() =>
      clientOptionsFromJoinToken(secret.joinToken.slice(0, -1), `consul://${hostPort}`),
    ).toThrow(/not a weft join token/)
  })

  test('a join token with another CA digest is refused before the token is sent', async () => {
    const other = ensureClusterSecret(join(dir, 'other-data'), { hosts: ['127.0.0.1'] })
    const wrongDigest = `WFTKN-1-${other.caDigest}-${secret.token}`
    const c = new ConsulClient({
      ...clientOptionsFromJoinToken(wrongDigest, `consul://${hostPort}`),
      retries: 0,
    })
    const before = kv.stats()
    const e = await c.kv.put('joined/wrong', 'x').catch((x) => x)
    expect(e).toBeInstanceOf(StoreIdentityError)
    expect(e.message).toContain('not the cluster')
    expect(kv.stats()).toEqual(before)
  })

  test('a man in the middle is refused and never sees the token: own CA, or the real CA in front of its own key', async () => {
    const seen: string[] = []
    const evilCa = createCa({ commonName: 'weft cluster CA', days: 30 })
    const evilLeaf = issueServerCert(evilCa, {
      commonName: 'weft store',
      hosts: ['127.0.0.1'],
      days: 30,
    })
    const mitm = (cert: string) => {
      const s = Bun.serve({
        hostname: '127.0.0.1',
        port: 0,
        tls: { cert, key: evilLeaf.key },
        fetch: (req) => {
          seen.push(`${req.headers.get('x-consul-token')}`)
          return new Response('true')
        },
      })
      stops.push(() => s.stop(true))
      return `consul://127.0.0.1:${s.port}`
    }
    for (const store of [mitm(evilLeaf.cert + evilCa.cert), mitm(evilLeaf.cert + secret.tls.ca)]) {
      const c = new ConsulClient({
        ...clientOptionsFromJoinToken(secret.joinToken, store),
        retries: 0,
      })
      const e = await c.kv.put('weft/v1/endpoints/n1/ep1', 'stolen').catch((x) => x)
      expect(e).toBeInstanceOf(StoreIdentityError)
    }
    expect(seen).toEqual([])
  })

  test('https with the system CAs does not trust the cluster CA (a real Consul needs --store-ca or a public certificate)', async () => {
    const sys = new ConsulClient({ address: kv.url, token: secret.token, retries: 0 })
    expect(await sys.leader().catch((x) => x)).toBeInstanceOf(StoreIdentityError)
    const withCa = new ConsulClient({
      address: kv.url,
      token: secret.token,
      tls: { ca: secret.tls.ca },
    })
    expect(await withCa.leader()).toBe('127.0.0.1:8500')
    const noToken = new ConsulClient({ address: kv.url, tls: { ca: secret.tls.ca } })
    const e = await noToken.kv.get('joined/a').catch((x) => x)
    expect(e).toBeInstanceOf(KvHttpError)
    expect(e.status).toBe(403)
  })
})
