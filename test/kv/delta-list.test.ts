// weft's delta listing (src/kv/delta-wire.ts) against the real embedded server (HTTP, engine,
// libSQL file): a recurse read with `weft-since=S` answers with the entries modified after S and
// the keys deleted after S, marked by X-Weft-Delta; the full list when the tombstones no longer
// reach back to S or S is ahead of the store; bad asks are 400 and the route keeps its ACL. A
// server that does not know the extension (a Consul stand-in that ignores the parameter, as
// Consul does) gets the client the full list.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { ConsulClient } from '../../src/kv/index.ts'
import type { PrefixChanges } from '../../src/kv/client/delta.ts'
import { http, startTestServer, uniq, waitFor, type TestServer } from './helpers.ts'

const text = new TextDecoder()
const keysOf = (c: PrefixChanges) =>
  c.kind === 'full'
    ? { full: c.entries.map((e) => e.key) }
    : { put: c.put.map((e) => `${e.key}=${text.decode(e.value)}`), deleted: c.deleted }

describe('delta listing on the embedded server', () => {
  let srv: TestServer
  let client: ConsulClient

  beforeAll(async () => {
    srv = await startTestServer()
    client = new ConsulClient({ address: srv.kv.url })
  })
  afterAll(() => srv.cleanup())

  test('entries modified and keys deleted after the index, and nothing else', async () => {
    const p = `${uniq('delta')}/`
    await client.kv.put(`${p}a`, '1')
    await client.kv.put(`${p}b`, '1')
    await client.kv.put(`${p}c`, '1')
    await client.kv.put(`other-${p}x`, '1') // outside the prefix: never in its answers
    const base = await client.kv.listSince(p, undefined)
    expect(keysOf(base.value)).toEqual({ full: [`${p}a`, `${p}b`, `${p}c`] })

    await client.kv.put(`${p}a`, '2') // modified
    await client.kv.delete(`${p}b`) // deleted
    await client.kv.put(`${p}d`, '1') // created
    await client.kv.put(`${p}e`, '1')
    await client.kv.delete(`${p}e`) // created and deleted after the index: a deletion
    await client.kv.put(`other-${p}x`, '2')
    const d = await client.kv.listSince(p, base.index)
    expect(keysOf(d.value)).toEqual({ put: [`${p}a=2`, `${p}d=1`], deleted: [`${p}b`, `${p}e`] })
    expect(d.index).toBe((await client.kv.list(p)).index)
    // the entries are whole (every field the full list has)
    const full = (await client.kv.list(p)).value
    if (d.value.kind !== 'delta') throw new Error('expected a delta')
    expect(d.value.put).toEqual(full.filter((e) => e.key === `${p}a` || e.key === `${p}d`))

    // asked at the current index: an empty delta, with that index
    const none = await client.kv.listSince(p, d.index)
    expect(keysOf(none.value)).toEqual({ put: [], deleted: [] })
    expect(none.index).toBe(d.index)

    // a prefix that is empty now still answers the delta (full mode would be a 404)
    await client.kv.delete(p, { recurse: true })
    const gone = await client.kv.listSince(p, d.index)
    expect(keysOf(gone.value)).toEqual({ put: [], deleted: [`${p}a`, `${p}c`, `${p}d`] })
  })

  test('a blocking delta waits for a change under the prefix and brings only it', async () => {
    const p = `${uniq('delta-block')}/`
    await client.kv.put(`${p}a`, '1')
    const base = await client.kv.listSince(p, undefined)
    const waiting = client.kv.listSince(p, base.index, { index: base.index, waitMs: 10_000 })
    await waitFor(() => srv.kv.stats().waiters > 0, { what: 'the delta read to park' })
    await client.kv.put(`${p}b`, '1')
    const d = await waiting
    expect(keysOf(d.value)).toEqual({ put: [`${p}b=1`], deleted: [] })
    expect(d.index).toBeGreaterThan(base.index)
  })

  test('an index ahead of the store: the full list', async () => {
    const p = `${uniq('delta-ahead')}/`
    await client.kv.put(`${p}a`, '1')
    const r = await client.kv.listSince(p, srv.kv.stats().index + 1000n)
    expect(keysOf(r.value)).toEqual({ full: [`${p}a`] })
  })

  test('bad asks are 400 and change nothing; the route keeps its token check', async () => {
    const p = `${uniq('delta-bad')}/`
    await client.kv.put(`${p}a`, '1')
    const before = srv.kv.stats().index
    const notNumber = await http(srv.kv.url, 'GET', `/v1/kv/${p}?recurse&weft-since=soon`)
    expect(notNumber.status).toBe(400)
    expect(notNumber.text).toContain('weft-since')
    const keysMode = await http(srv.kv.url, 'GET', `/v1/kv/${p}?keys&weft-since=1`)
    expect(keysMode.status).toBe(400)
    expect(keysMode.text).toContain('?recurse')
    const single = await http(srv.kv.url, 'GET', `/v1/kv/${p}a?weft-since=1`)
    expect(single.status).toBe(400)
    expect(srv.kv.stats().index).toBe(before)

    const locked = await startTestServer({ token: 'delta-secret' })
    try {
      const denied = await http(locked.kv.url, 'GET', `/v1/kv/${p}?recurse&weft-since=1`)
      expect(denied.status).toBe(403)
      const allowed = await http(locked.kv.url, 'GET', `/v1/kv/${p}?recurse&weft-since=1`, {
        token: 'delta-secret',
      })
      expect(allowed.status).toBe(200)
      expect(allowed.headers.get('x-weft-delta')).toBe('1')
    } finally {
      await locked.cleanup()
    }
  })
})

describe('delta listing falls back to the full list', () => {
  test('when the tombstones after the index were reaped', async () => {
    const srv = await startTestServer({ tombstoneTtlMs: 50 })
    try {
      const client = new ConsulClient({ address: srv.kv.url })
      await client.kv.put('p/a', '1')
      await client.kv.put('p/b', '1')
      const base = await client.kv.listSince('p/', undefined)
      await client.kv.delete('p/b')
      await client.kv.put('p/c', '1')
      await waitFor(() => srv.kv.stats().tombstones === 0, {
        what: 'the tombstone of p/b to be reaped',
      })
      // the deletion of p/b cannot be told any more: the whole prefix instead
      const r = await client.kv.listSince('p/', base.index)
      expect(keysOf(r.value)).toEqual({ full: ['p/a', 'p/c'] })
      // an index at or after the reap floor is served as a delta again
      const again = await client.kv.listSince('p/', r.index)
      expect(keysOf(again.value)).toEqual({ put: [], deleted: [] })
    } finally {
      await srv.cleanup()
    }
  })

  test('from a server that does not know the extension (it ignores the parameter, as Consul does)', async () => {
    const srv = await startTestServer()
    // a Consul stand-in: the same answers, without the extension (the parameter dropped on the way)
    const consulLike = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch(req) {
        const u = new URL(req.url)
        u.searchParams.delete('weft-since')
        return fetch(`${srv.kv.url}${u.pathname}?${u.searchParams}`)
      },
    })
    try {
      const direct = new ConsulClient({ address: srv.kv.url })
      await direct.kv.put('q/a', '1')
      await direct.kv.put('q/b', '1')
      const client = new ConsulClient({ address: `http://127.0.0.1:${consulLike.port}` })
      const base = await client.kv.listSince('q/', undefined)
      await direct.kv.put('q/c', '1')
      const r = await client.kv.listSince('q/', base.index)
      expect(keysOf(r.value)).toEqual({ full: ['q/a', 'q/b', 'q/c'] })
      expect(r.index).toBe((await direct.kv.list('q/')).index)
    } finally {
      consulLike.stop(true)
      await srv.cleanup()
    }
  })
})
