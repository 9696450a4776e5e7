// Contract suite for a Consul KV/session/txn API (docs/CONSUL-API.md). Runs against our
// server and, when CONSUL_ADDR is set, a real Consul. Talks raw HTTP so it checks the wire
// protocol itself. Every test uses its own key prefix.
import { describe, expect, test } from 'bun:test'
import { b64, http, uniq, unb64, waitFor, type HttpAnswer } from './helpers.ts'

export interface KvTarget {
  baseUrl: string
  /** ACL token to send (when the target has ACLs on). */
  token?: string
  /** Smallest session TTL the target accepts, in ms (Consul: 10 s). */
  sessionTtlMinMs?: number
  /** Stop and start the server on the same data (our server only). */
  restart?: () => Promise<void>
}

const BIG_FLAGS = 3304740253564472344n

export interface KvFeatures {
  /** The target has an ACL token configured (token tests). */
  acl?: boolean
  /** The target can be restarted on the same data (persistence tests). */
  restart?: boolean
}

export function runKvContract(
  name: string,
  target: () => KvTarget,
  features: KvFeatures = {},
): void {
  const t = () => target()
  const call = (
    method: string,
    path: string,
    o: { body?: string | Uint8Array; signal?: AbortSignal } = {},
  ) => http(t().baseUrl, method, path, { ...o, token: t().token })
  const index = (r: HttpAnswer) => BigInt(r.headers.get('x-consul-index') ?? '0')
  const put = async (key: string, body = '', q = '') =>
    (await call('PUT', `/v1/kv/${key}${q}`, { body })).json as boolean
  const modifyIndex = async (key: string) =>
    BigInt((await call('GET', `/v1/kv/${key}`)).json[0].ModifyIndex)
  const newSession = async (body: Record<string, unknown> = {}) => {
    const r = await call('PUT', '/v1/session/create', {
      body: JSON.stringify({ Checks: [], LockDelay: '0s', ...body }),
    })
    expect(r.status).toBe(200)
    return r.json.ID as string
  }

  describe(`kv contract: ${name}`, () => {
    describe('KV get/put', () => {
      test('put then get returns one entry with base64 value, u64 flags and matching index header', async () => {
        const k = uniq('ct/basic')
        expect(await put(k, 'hello', `?flags=${BIG_FLAGS}`)).toBe(true)
        const r = await call('GET', `/v1/kv/${k}`)
        expect(r.status).toBe(200)
        expect(r.text).toContain(`"Flags":${BIG_FLAGS}`)
        const e = r.json[0]
        expect(r.json).toHaveLength(1)
        expect(e.Key).toBe(k)
        expect(unb64(e.Value)).toBe('hello')
        expect(e.LockIndex).toBe(0)
        expect('Session' in e).toBe(false)
        expect(e.CreateIndex).toBe(e.ModifyIndex)
        expect(index(r)).toBe(BigInt(e.ModifyIndex))
        expect(r.headers.get('x-consul-knownleader')).toBe('true')
        expect(r.headers.get('x-consul-lastcontact')).not.toBeNull()
      })

      test('empty value reads back as null; raw returns bytes verbatim', async () => {
        const k = uniq('ct/empty')
        await put(k, '')
        expect((await call('GET', `/v1/kv/${k}`)).json[0].Value).toBeNull()
        const raw = await call('GET', `/v1/kv/${k}?raw`)
        expect(raw.status).toBe(200)
        expect(raw.text).toBe('')
        await put(k, '{"a":1}')
        const raw2 = await call('GET', `/v1/kv/${k}?raw=true`)
        expect(raw2.text).toBe('{"a":1}')
        expect(raw2.headers.get('content-type')).toStartWith('text/plain')
      })

      test('missing key is 404 with an X-Consul-Index >= 1; empty key is 400', async () => {
        const r = await call('GET', `/v1/kv/${uniq('ct/missing')}`)
        expect(r.status).toBe(404)
        expect(index(r)).toBeGreaterThanOrEqual(1n)
        expect((await call('GET', '/v1/kv/')).status).toBe(400)
        expect((await call('PUT', '/v1/kv/', { body: 'x' })).status).toBe(400)
      })

      test('percent-encoded slash in the key path is the same key', async () => {
        const k = uniq('ct/enc')
        await put(`${k}%2Fsub`, 'v')
        const r = await call('GET', `/v1/kv/${k}/sub`)
        expect(r.status).toBe(200)
        expect(r.json[0].Key).toBe(`${k}/sub`)
      })

      test('plain put resets Flags to 0 and keeps CreateIndex; ModifyIndex rises', async () => {
        const k = uniq('ct/flags')
        await put(k, 'a', '?flags=42')
        const first = (await call('GET', `/v1/kv/${k}`)).json[0]
        expect(first.Flags).toBe(42)
        await put(k, 'b')
        const second = (await call('GET', `/v1/kv/${k}`)).json[0]
        expect(second.Flags).toBe(0)
        expect(second.CreateIndex).toBe(first.CreateIndex)
        expect(second.ModifyIndex).toBeGreaterThan(first.ModifyIndex)
      })

      test('value over 512 KiB is 413', async () => {
        const r = await call('PUT', `/v1/kv/${uniq('ct/big')}`, {
          body: new Uint8Array(524288 + 1),
        })
        expect(r.status).toBe(413)
      })

      test('conflicting flags are 400; bad index and wait are 400', async () => {
        const k = uniq('ct/conf')
        expect((await call('PUT', `/v1/kv/${k}?cas=0&acquire=x`, { body: '' })).status).toBe(400)
        expect((await call('DELETE', `/v1/kv/${k}?recurse&cas=1`)).status).toBe(400)
        expect((await call('GET', `/v1/kv/${k}?index=abc`)).status).toBe(400)
        expect((await call('GET', `/v1/kv/${k}?index=1&wait=10`)).status).toBe(400)
      })

      test('wrong method is 405 with Allow; unknown path is 404', async () => {
        const r = await call('POST', `/v1/kv/${uniq('ct/m')}`, { body: 'x' })
        expect(r.status).toBe(405)
        expect(r.headers.get('allow') ?? '').toContain('GET')
        expect((await call('GET', '/v1/does-not-exist')).status).toBe(404)
      })
    })

    describe('KV listing', () => {
      test('recurse is a byte-prefix match, sorted; ?recurse=false still recurses; 404 when empty', async () => {
        const p = uniq('ct/list')
        for (const k of ['b', 'a', 'a/x', 'ab']) await put(`${p}/${k}`, k)
        await put(`${p}x`, 'outside-segment-but-byte-prefix')
        const r = await call('GET', `/v1/kv/${p}/?recurse`)
        expect(r.json.map((e: any) => e.Key)).toEqual([`${p}/a`, `${p}/a/x`, `${p}/ab`, `${p}/b`])
        const byte = await call('GET', `/v1/kv/${p}?recurse=false`)
        expect(byte.json.map((e: any) => e.Key)).toContain(`${p}x`)
        expect((await call('GET', `/v1/kv/${uniq('ct/none')}/?recurse`)).status).toBe(404)
      })

      test('keys with separator truncates after the first separator, deduplicated', async () => {
        const p = uniq('ct/keys')
        for (const k of ['bar', 'foo', 'sub/x', 'sub/y']) await put(`${p}/${k}`, '')
        const r = await call('GET', `/v1/kv/${p}/?keys&separator=/`)
        expect(r.json).toEqual([`${p}/bar`, `${p}/foo`, `${p}/sub/`])
        const all = await call('GET', `/v1/kv/${p}/?keys`)
        expect(all.json).toEqual([`${p}/bar`, `${p}/foo`, `${p}/sub/x`, `${p}/sub/y`])
        expect((await call('GET', `/v1/kv/${uniq('ct/nokeys')}/?keys`)).status).toBe(404)
      })

      test('a delete leaves a tombstone: the prefix index rises, never drops', async () => {
        const p = uniq('ct/tomb')
        await put(`${p}/a`, '1')
        await put(`${p}/b`, '2')
        const before = index(await call('GET', `/v1/kv/${p}/?recurse`))
        await call('DELETE', `/v1/kv/${p}/b`)
        const after = await call('GET', `/v1/kv/${p}/?recurse`)
        expect(after.json).toHaveLength(1)
        expect(index(after)).toBeGreaterThan(before)
        await call('DELETE', `/v1/kv/${p}/a`)
        const gone = await call('GET', `/v1/kv/${p}/?recurse`)
        expect(gone.status).toBe(404)
        expect(index(gone)).toBeGreaterThan(index(after))
      })
    })

    describe('CAS and delete', () => {
      test('cas=0 creates only when absent; cas=N needs the current ModifyIndex', async () => {
        const k = uniq('ct/cas')
        expect(await put(k, 'one', '?cas=0')).toBe(true)
        expect(await put(k, 'two', '?cas=0')).toBe(false)
        const mi = await modifyIndex(k)
        expect(await put(k, 'three', `?cas=${mi + 1000n}`)).toBe(false)
        expect(await put(k, 'three', `?cas=${mi}`)).toBe(true)
        expect(await put(uniq('ct/cas-missing'), 'x', '?cas=5')).toBe(false)
        expect(unb64((await call('GET', `/v1/kv/${k}`)).json[0].Value)).toBe('three')
      })

      test('delete: true when absent; cas mismatch false; cas on a missing key true; recurse removes the prefix only', async () => {
        const p = uniq('ct/del')
        expect((await call('DELETE', `/v1/kv/${p}/absent`)).json).toBe(true)
        await put(`${p}/k`, 'v')
        const mi = await modifyIndex(`${p}/k`)
        expect((await call('DELETE', `/v1/kv/${p}/k?cas=${mi + 1n}`)).json).toBe(false)
        expect((await call('DELETE', `/v1/kv/${p}/k?cas=0`)).json).toBe(false)
        expect((await call('DELETE', `/v1/kv/${p}/k?cas=${mi}`)).json).toBe(true)
        expect((await call('DELETE', `/v1/kv/${p}/k?cas=${mi}`)).json).toBe(true)
        await put(`${p}/t/1`, '')
        await put(`${p}/t/2`, '')
        await put(`${p}/u`, '')
        expect((await call('DELETE', `/v1/kv/${p}/t/?recurse`)).json).toBe(true)
        expect((await call('GET', `/v1/kv/${p}/?keys`)).json).toEqual([`${p}/u`])
      })
    })

    describe('blocking queries', () => {
      test('a write wakes a blocked single-key read with a higher index', async () => {
        const k = uniq('ct/block')
        await put(k, 'v1')
        const idx = await modifyIndex(k)
        const pending = call('GET', `/v1/kv/${k}?index=${idx}&wait=10s`)
        await put(k, 'v2')
        const r = await pending
        expect(r.status).toBe(200)
        expect(index(r)).toBeGreaterThan(idx)
        expect(unb64(r.json[0].Value)).toBe('v2')
        expect(r.ms).toBeLessThan(5000)
      })

      test('on timeout it answers with the same index', async () => {
        const k = uniq('ct/timeout')
        await put(k, 'v')
        const idx = await modifyIndex(k)
        const r = await call('GET', `/v1/kv/${k}?index=${idx}&wait=400ms`)
        expect(r.status).toBe(200)
        expect(index(r)).toBe(idx)
        expect(r.ms).toBeGreaterThanOrEqual(350)
      })

      test('a blocked read of a missing key wakes when it is created', async () => {
        const k = uniq('ct/create')
        const miss = await call('GET', `/v1/kv/${k}`)
        expect(miss.status).toBe(404)
        const pending = call('GET', `/v1/kv/${k}?index=${index(miss)}&wait=10s`)
        await put(k, 'born')
        const r = await pending
        expect(r.status).toBe(200)
        expect(unb64(r.json[0].Value)).toBe('born')
      })

      test('a blocked recursive read wakes on a delete under the prefix', async () => {
        const p = uniq('ct/blist')
        await put(`${p}/a`, '')
        await put(`${p}/b`, '')
        const cur = await call('GET', `/v1/kv/${p}/?recurse`)
        const pending = call('GET', `/v1/kv/${p}/?recurse&index=${index(cur)}&wait=10s`)
        await call('DELETE', `/v1/kv/${p}/a`)
        const r = await pending
        expect(r.json.map((e: any) => e.Key)).toEqual([`${p}/b`])
        expect(index(r)).toBeGreaterThan(index(cur))
      })
    })

    describe('sessions and locks', () => {
      test('create/info/list/node/renew/destroy', async () => {
        const name = uniq('ct-sess')
        const ttlS = Math.max(10, Math.ceil((t().sessionTtlMinMs ?? 10_000) / 1000))
        const id = await newSession({
          Name: name,
          TTL: `${ttlS}s`,
          Behavior: 'delete',
          LockDelay: '2s',
        })
        expect(id).toMatch(/^[0-9a-f-]{36}$/)
        const info = await call('GET', `/v1/session/info/${id}`)
        expect(info.status).toBe(200)
        expect(index(info)).toBeGreaterThanOrEqual(1n)
        const s = info.json[0]
        expect(s.Name).toBe(name)
        expect(s.Behavior).toBe('delete')
        expect(s.TTL).toBe(`${ttlS}s`)
        expect(s.LockDelay).toBe(2_000_000_000)
        const list = await call('GET', '/v1/session/list')
        expect(list.json.some((x: any) => x.ID === id)).toBe(true)
        const node = await call('GET', `/v1/session/node/${s.Node}`)
        expect(node.json.some((x: any) => x.ID === id)).toBe(true)
        const renew = await call('PUT', `/v1/session/renew/${id}`)
        expect(renew.status).toBe(200)
        expect(renew.json[0].ID).toBe(id)
        expect(renew.json[0].TTL).toBeTruthy()
        expect((await call('PUT', `/v1/session/destroy/${id}`)).json).toBe(true)
        expect((await call('GET', `/v1/session/info/${id}`)).json).toEqual([])
        expect((await call('PUT', `/v1/session/renew/${id}`)).status).toBe(404)
        expect((await call('PUT', `/v1/session/destroy/${id}`)).json).toBe(true)
      })

      test('lower-case JSON field names are accepted', async () => {
        const r = await call('PUT', '/v1/session/create', {
          body: JSON.stringify({ name: 'py', behavior: 'delete', lockdelay: '3s', checks: [] }),
        })
        expect(r.status).toBe(200)
        const s = (await call('GET', `/v1/session/info/${r.json.ID}`)).json[0]
        expect(s.Behavior).toBe('delete')
        expect(s.LockDelay).toBe(3_000_000_000)
        await call('PUT', `/v1/session/destroy/${r.json.ID}`)
      })

      test('acquire/release: LockIndex counts acquisitions, other sessions are refused, release writes the value', async () => {
        const k = uniq('ct/lock')
        const a = await newSession()
        const b = await newSession()
        expect(await put(k, 'by-a', `?acquire=${a}`)).toBe(true)
        let e = (await call('GET', `/v1/kv/${k}`)).json[0]
        expect(e.Session).toBe(a)
        expect(e.LockIndex).toBe(1)
        expect(e.CreateIndex).toBe(e.ModifyIndex)
        expect(await put(k, 'by-b', `?acquire=${b}`)).toBe(false)
        expect(await put(k, 'again', `?acquire=${a}`)).toBe(true)
        expect((await call('GET', `/v1/kv/${k}`)).json[0].LockIndex).toBe(1)
        expect(await put(k, 'x', `?release=${b}`)).toBe(false)
        expect(await put(k, 'left-behind', `?release=${a}`)).toBe(true)
        e = (await call('GET', `/v1/kv/${k}`)).json[0]
        expect('Session' in e).toBe(false)
        expect(e.LockIndex).toBe(1)
        expect(unb64(e.Value)).toBe('left-behind')
        expect(await put(k, 'by-b', `?acquire=${b}`)).toBe(true)
        expect((await call('GET', `/v1/kv/${k}`)).json[0].LockIndex).toBe(2)
        const bad = await call('PUT', `/v1/kv/${k}?acquire=00000000-0000-0000-0000-000000000000`, {
          body: '',
        })
        expect(bad.status).toBe(500)
        await call('PUT', `/v1/session/destroy/${a}`)
        await call('PUT', `/v1/session/destroy/${b}`)
      })

      test('destroying a release-session frees its keys (value kept) and starts the lock-delay', async () => {
        const k = uniq('ct/delay')
        const a = await newSession({ LockDelay: '1500ms' })
        const b = await newSession()
        expect(await put(k, 'held', `?acquire=${a}`)).toBe(true)
        await call('PUT', `/v1/session/destroy/${a}`)
        const e = (await call('GET', `/v1/kv/${k}`)).json[0]
        expect('Session' in e).toBe(false)
        expect(unb64(e.Value)).toBe('held')
        expect(await put(k, 'b', `?acquire=${b}`)).toBe(false)
        await waitFor(() => put(k, 'b', `?acquire=${b}`), {
          timeoutMs: 5000,
          what: 'lock-delay to end',
        })
        await call('PUT', `/v1/session/destroy/${b}`)
      })

      test('destroying a delete-session deletes its keys', async () => {
        const k = uniq('ct/ephemeral')
        const a = await newSession({ Behavior: 'delete' })
        await put(k, 'x', `?acquire=${a}`)
        await call('PUT', `/v1/session/destroy/${a}`)
        expect((await call('GET', `/v1/kv/${k}`)).status).toBe(404)
      })

      for (const behavior of ['release', 'delete'] as const) {
        test(`TTL expiry invalidates the session (${behavior})`, async () => {
          const ttlMs = Math.max(1000, t().sessionTtlMinMs ?? 10_000)
          const k = uniq(`ct/ttl-${behavior}`)
          const id = await newSession({ TTL: `${ttlMs}ms`, Behavior: behavior })
          expect(await put(k, 'alive', `?acquire=${id}`)).toBe(true)
          const t0 = performance.now()
          await waitFor(
            async () => (await call('GET', `/v1/session/info/${id}`)).json.length === 0,
            {
              timeoutMs: ttlMs * 2 + 15_000,
              what: 'session TTL expiry',
              everyMs: 100,
            },
          )
          expect(performance.now() - t0).toBeGreaterThanOrEqual(ttlMs - 50)
          const r = await call('GET', `/v1/kv/${k}`)
          if (behavior === 'delete') expect(r.status).toBe(404)
          else {
            expect(r.status).toBe(200)
            expect('Session' in r.json[0]).toBe(false)
          }
        }, 60_000)
      }
    })

    describe('transactions', () => {
      test('results shape: one per write/get/check op, none for deletes; writes share one index', async () => {
        const p = uniq('ct/txn')
        await put(`${p}/old`, 'x')
        const ops = [
          { KV: { Verb: 'set', Key: `${p}/a`, Value: b64('A'), Flags: 7 } },
          { KV: { Verb: 'set', Key: `${p}/b`, Value: b64('B') } },
          { KV: { Verb: 'get', Key: `${p}/a` } },
          { KV: { Verb: 'delete', Key: `${p}/old` } },
          { KV: { Verb: 'check-not-exists', Key: `${p}/old` } },
          { KV: { Verb: 'get-tree', Key: `${p}/` } },
        ]
        const r = await call('PUT', '/v1/txn', { body: JSON.stringify(ops) })
        expect(r.status).toBe(200)
        expect(r.json.Errors).toBeNull()
        const res = r.json.Results.map((x: any) => x.KV)
        expect(res).toHaveLength(5)
        expect(res[0].Value).toBeNull()
        expect(res[0].Flags).toBe(7)
        expect(unb64(res[2].Value)).toBe('A')
        expect(res.slice(3).map((e: any) => e.Key)).toEqual([`${p}/a`, `${p}/b`])
        expect(res[0].ModifyIndex).toBe(res[1].ModifyIndex)
        expect((await call('GET', `/v1/kv/${p}/old`)).status).toBe(404)
      })

      test('a failing op rolls everything back with 409 listing every failing op', async () => {
        const p = uniq('ct/txnfail')
        await put(`${p}/exists`, 'x')
        const ops = [
          { KV: { Verb: 'set', Key: `${p}/new`, Value: b64('n') } },
          { KV: { Verb: 'cas', Key: `${p}/exists`, Value: b64('y'), Index: 1 } },
          { KV: { Verb: 'check-not-exists', Key: `${p}/exists` } },
        ]
        const r = await call('PUT', '/v1/txn', { body: JSON.stringify(ops) })
        expect(r.status).toBe(409)
        expect(r.json.Results).toBeNull()
        expect(r.json.Errors.map((e: any) => e.OpIndex)).toEqual([1, 2])
        expect(r.json.Errors[0].What).toContain('index is stale')
        expect((await call('GET', `/v1/kv/${p}/new`)).status).toBe(404)
      })

      test('lock/unlock verbs follow acquire/release', async () => {
        const k = uniq('ct/txnlock')
        const s = await newSession()
        const lock = await call('PUT', '/v1/txn', {
          body: JSON.stringify([{ KV: { Verb: 'lock', Key: k, Value: b64('v'), Session: s } }]),
        })
        expect(lock.status).toBe(200)
        expect(lock.json.Results[0].KV.Session).toBe(s)
        expect(lock.json.Results[0].KV.LockIndex).toBe(1)
        const check = await call('PUT', '/v1/txn', {
          body: JSON.stringify([{ KV: { Verb: 'check-session', Key: k, Session: s } }]),
        })
        expect(check.status).toBe(200)
        const unlock = await call('PUT', '/v1/txn', {
          body: JSON.stringify([{ KV: { Verb: 'unlock', Key: k, Value: b64('u'), Session: s } }]),
        })
        expect(unlock.status).toBe(200)
        expect(unlock.json.Results[0].KV.Session).toBeUndefined()
        const again = await call('PUT', '/v1/txn', {
          body: JSON.stringify([{ KV: { Verb: 'unlock', Key: k, Value: b64('u'), Session: s } }]),
        })
        expect(again.status).toBe(409)
        await call('PUT', `/v1/session/destroy/${s}`)
      })

      test('too many ops is 413; undecodable body is 400', async () => {
        const ops = Array.from({ length: 129 }, (_, i) => ({
          KV: { Verb: 'get-or-empty', Key: `ct/many/${i}` },
        }))
        expect((await call('PUT', '/v1/txn', { body: JSON.stringify(ops) })).status).toBe(413)
        expect((await call('PUT', '/v1/txn', { body: '[{' })).status).toBe(400)
      })
    })

    describe('status and agent', () => {
      test('leader is a host:port string that is one of the peers', async () => {
        const leader = (await call('GET', '/v1/status/leader')).json
        expect(leader).toMatch(/:\d+$/)
        const peers = (await call('GET', '/v1/status/peers')).json
        expect(peers).toContain(leader)
      })

      test('agent/self has Config.Datacenter, NodeName, Version', async () => {
        const r = await call('GET', '/v1/agent/self')
        expect(r.status).toBe(200)
        expect(r.json.Config.Datacenter).toBeTruthy()
        expect(r.json.Config.NodeName).toBeTruthy()
        expect(r.json.Config.Version).toMatch(/^\d+\.\d+/)
      })
    })

    describe('ACL token', () => {
      const aclOff = async () => {
        const k = uniq('ct/noacl')
        const r = await http(t().baseUrl, 'PUT', `/v1/kv/${k}`, { body: 'x', token: 'whatever' })
        expect(r.status).toBe(200)
        expect(r.headers.get('x-consul-default-acl-policy')).toBe('allow')
      }
      const aclOn = async () => {
        const k = uniq('ct/acl')
        const anon = await http(t().baseUrl, 'PUT', `/v1/kv/${k}`, { body: 'x' })
        expect(anon.status).toBe(403)
        expect(anon.text).toStartWith('Permission denied')
        const wrong = await http(t().baseUrl, 'PUT', `/v1/kv/${k}`, {
          body: 'x',
          token: 'not-the-token',
        })
        expect(wrong.status).toBe(403)
        expect(wrong.text).toContain('ACL not found')
        const bearer = await http(t().baseUrl, 'PUT', `/v1/kv/${k}`, {
          body: 'x',
          headers: { Authorization: `Bearer ${t().token}` },
        })
        expect(bearer.status).toBe(200)
        expect((await http(t().baseUrl, 'GET', `/v1/kv/${k}?token=${t().token}`)).status).toBe(200)
        expect((await http(t().baseUrl, 'GET', `/v1/kv/${k}`)).status).toBe(403)
      }
      if (features.acl)
        test(
          'without the right token writes are 403 (Permission denied / ACL not found); with it they pass',
          aclOn,
        )
      else test('with ACLs off any token is ignored and the default policy is allow', aclOff)
    })

    // Only for servers the suite can restart (ours).
    const persistence = async () => {
      const restart = t().restart!
      const k = uniq('ct/persist')
      await put(k, 'kept', '?flags=18446744073709551615')
      const before = (await call('GET', `/v1/kv/${k}`)).json[0]
      const s = await newSession({ Behavior: 'delete' })
      await restart()
      const after = await call('GET', `/v1/kv/${k}`)
      expect(after.status).toBe(200)
      expect(after.text).toContain('"Flags":18446744073709551615')
      expect(after.json[0].ModifyIndex).toBe(before.ModifyIndex)
      expect((await call('GET', `/v1/session/info/${s}`)).json).toHaveLength(1)
      await put(`${k}-2`, 'new')
      expect(await modifyIndex(`${k}-2`)).toBeGreaterThan(BigInt(before.ModifyIndex))
      await call('PUT', `/v1/session/destroy/${s}`)
    }
    if (features.restart)
      test('restart: data and indexes survive a restart and keep rising', persistence)
  })
}
