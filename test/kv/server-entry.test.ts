// The store's one entry point (createKvServer's fetch): the token check runs before any route,
// and every answer, refusals and errors included, carries Consul's ACL policy header. The app
// has no middleware of its own (a parked long poll holds no frames around its route), so this
// is what keeps the check and the header; a blocking read parked through it still answers.
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createKvServer, type KvServer } from '../../src/kv/index.ts'
import { waitFor } from '../harness/wait.ts'

const dir = mkdtempSync(join(tmpdir(), 'weft-kv-entry-'))
const servers: KvServer[] = []
afterAll(async () => {
  for (const s of servers) await s.close()
  rmSync(dir, { recursive: true, force: true })
})

async function server(name: string, token?: string): Promise<KvServer> {
  const kv = await createKvServer({
    dbPath: join(dir, `${name}.db`),
    nodeName: name,
    advertise: '127.0.0.1:1',
    token,
  })
  servers.push(kv)
  return kv
}

const call = (kv: KvServer, path: string, init: RequestInit = {}) =>
  Promise.resolve(kv.fetch(new Request(`http://x${path}`, init)))

describe('the store entry point', () => {
  test('with a token: refused before any route, every answer has the deny policy', async () => {
    const kv = await server('tok', 's3cret')
    const none = await call(kv, '/v1/kv/a', { method: 'PUT', body: '1' })
    expect(none.status).toBe(403)
    expect(await none.text()).toStartWith('Permission denied')
    const wrong = await call(kv, '/v1/status/leader', { headers: { 'X-Consul-Token': 'nope' } })
    expect(wrong.status).toBe(403)
    expect(await wrong.text()).toBe('ACL not found')
    // nothing was written by the refused PUT
    expect(kv.stats().keys).toBe(0)
    const auth = { headers: { Authorization: 'Bearer s3cret' } }
    const answers = [
      none,
      wrong,
      await call(kv, '/v1/kv/a', { method: 'PUT', body: '1', ...auth }), // 200
      await call(kv, '/v1/kv/missing', auth), // 404 from the route
      await call(kv, '/v1/nowhere', auth), // 404 from notFound
      await call(kv, '/v1/kv/a?index=x', auth), // 400 from an HttpError
      await call(kv, '/v1/kv/a?token=s3cret'), // 200, the token as a query parameter
    ]
    expect(answers.map((r) => r.status)).toEqual([403, 403, 200, 404, 404, 400, 200])
    for (const r of answers) expect(r.headers.get('X-Consul-Default-ACL-Policy')).toBe('deny')
  })

  test('without a token: allow policy; a parked blocking read answers through it', async () => {
    const kv = await server('open')
    const put = await call(kv, '/v1/kv/p/a', { method: 'PUT', body: '1' })
    expect(put.headers.get('X-Consul-Default-ACL-Policy')).toBe('allow')
    const index = (await call(kv, '/v1/kv/p/?recurse')).headers.get('X-Consul-Index')!
    const parked = call(kv, `/v1/kv/p/?recurse&index=${index}&wait=30s`)
    await waitFor(() => kv.stats().waiters === 1, { what: 'the blocking read to park' })
    await call(kv, '/v1/kv/p/b', { method: 'PUT', body: '2' })
    const woken = await parked
    expect(woken.status).toBe(200)
    expect(woken.headers.get('X-Consul-Default-ACL-Policy')).toBe('allow')
    expect(BigInt(woken.headers.get('X-Consul-Index')!)).toBeGreaterThan(BigInt(index))
  })

  test('a parked KV read (answered outside Hono) times out with the current state, leaves on abort; HEAD as before', async () => {
    const kv = await server('parked')
    await call(kv, '/v1/kv/k', { method: 'PUT', body: 'v' })
    const index = (await call(kv, '/v1/kv/k')).headers.get('X-Consul-Index')!
    // a timeout: the same index, the entry, the policy header
    const timedOut = await call(kv, `/v1/kv/k?index=${index}&wait=50ms`)
    expect(timedOut.status).toBe(200)
    expect(timedOut.headers.get('X-Consul-Index')).toBe(index)
    expect(timedOut.headers.get('X-Consul-Default-ACL-Policy')).toBe('allow')
    expect(((await timedOut.json()) as { Key: string }[])[0]!.Key).toBe('k')
    // an abort: the waiter leaves the registry, a later write wakes nobody
    const ac = new AbortController()
    void call(kv, `/v1/kv/k?index=${index}&wait=30s`, { signal: ac.signal })
    await waitFor(() => kv.stats().waiters === 1, { what: 'the blocking read to park' })
    ac.abort()
    await waitFor(() => kv.stats().waiters === 0, { what: 'the aborted read to leave' })
    // HEAD is not a read of that path: the routes answer it as they always did (405, Allow)
    const head = await call(kv, '/v1/kv/k', { method: 'HEAD' })
    expect(head.status).toBe(405)
    expect(head.headers.get('Allow')).toBe('GET,PUT,DELETE')
    expect(head.headers.get('X-Consul-Default-ACL-Policy')).toBe('allow')
  })
})
