// The npm `consul` package (node-consul 2.0.1) as a real third-party client against our server:
// put/get/recurse/keys/cas, its watch helper (blocking queries), a session lock, txn.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import Consul from 'consul'
import { startTestServer, uniq, waitFor, type TestServer } from './helpers.ts'

let srv: TestServer
// Typed loosely: the package typings make every answer nullable and reject documented options.
let consul: any

beforeAll(async () => {
  srv = await startTestServer()
  consul = new Consul({ host: '127.0.0.1', port: srv.kv.port })
})
afterAll(async () => {
  consul?.destroy()
  await srv?.cleanup()
})

describe('npm consul client against our server', () => {
  test('set/get/keys/recurse/del', async () => {
    const p = uniq('npm/basic')
    expect(await consul.kv.set(`${p}/a`, 'one')).toBe(true)
    expect(await consul.kv.set({ key: `${p}/b`, value: 'two', flags: 9 })).toBe(true)
    const a = await consul.kv.get(`${p}/a`)
    expect(a.Value).toBe('one')
    expect(a.Key).toBe(`${p}/a`)
    const b = await consul.kv.get({ key: `${p}/b` })
    expect(b.Flags).toBe(9)
    const all = await consul.kv.get({ key: `${p}/`, recurse: true })
    expect(all.map((e: any) => e.Key)).toEqual([`${p}/a`, `${p}/b`])
    expect(await consul.kv.keys(`${p}/`)).toEqual([`${p}/a`, `${p}/b`])
    expect(await consul.kv.get(`${p}/missing`)).toBeUndefined()
    await consul.kv.del(`${p}/a`)
    expect(await consul.kv.get(`${p}/a`)).toBeUndefined()
    await consul.kv.del({ key: `${p}/`, recurse: true })
    expect(await consul.kv.get({ key: `${p}/`, recurse: true })).toBeUndefined()
  })

  // node-consul (papi) turns a JSON `false` answer into undefined (`!value && maybeValue`),
  // with real Consul too, so refused writes are checked with toBeFalsy() + the stored state.
  test('cas: create-only and ModifyIndex match', async () => {
    const k = uniq('npm/cas')
    expect(await consul.kv.set({ key: k, value: 'v1', cas: 0 })).toBe(true)
    expect(await consul.kv.set({ key: k, value: 'v2', cas: 0 })).toBeFalsy()
    const cur = await consul.kv.get(k)
    expect(await consul.kv.set({ key: k, value: 'v2', cas: cur.ModifyIndex })).toBe(true)
    expect(await consul.kv.set({ key: k, value: 'v3', cas: cur.ModifyIndex })).toBeFalsy()
    expect((await consul.kv.get(k)).Value).toBe('v2')
  })

  test('watch helper sees the initial state and every change (blocking queries)', async () => {
    const p = uniq('npm/watch')
    await consul.kv.set(`${p}/x`, '0')
    const seen: string[][] = []
    const watch = consul.watch({
      method: consul.kv.get,
      options: { key: `${p}/`, recurse: true, wait: '5s' },
    })
    const errors: unknown[] = []
    watch.on('error', (e: unknown) => errors.push(e))
    watch.on('change', (data: any) =>
      seen.push((data ?? []).map((e: any) => `${e.Key}=${e.Value}`)),
    )
    try {
      await waitFor(() => seen.length >= 1, { what: 'initial watch event' })
      await consul.kv.set(`${p}/x`, '1')
      await waitFor(() => seen.some((s) => s.includes(`${p}/x=1`)), { what: 'watch sees update' })
      await consul.kv.set(`${p}/y`, '2')
      await waitFor(() => seen.some((s) => s.length === 2), { what: 'watch sees new key' })
      await consul.kv.del(`${p}/x`)
      await waitFor(() => seen.at(-1)?.join() === `${p}/y=2`, { what: 'watch sees delete' })
      expect(errors).toEqual([])
    } finally {
      watch.end()
    }
  })

  test('session lock: acquire, contention, release, destroy', async () => {
    const k = uniq('npm/lock')
    const s1 = (
      await consul.session.create({
        name: 'npm-1',
        ttl: '10s',
        behavior: 'release',
        lockdelay: '0s',
        checks: [],
      })
    ).ID
    const s2 = (await consul.session.create({ name: 'npm-2', lockdelay: '0s', checks: [] })).ID
    expect(await consul.kv.set({ key: k, value: 'a', acquire: s1 })).toBe(true)
    expect(await consul.kv.set({ key: k, value: 'b', acquire: s2 })).toBeFalsy()
    const held = await consul.kv.get(k)
    expect(held.Session).toBe(s1)
    const info = await consul.session.info(s1)
    expect(info.TTL).toBe('10s')
    const renewed = await consul.session.renew(s1)
    expect(renewed[0].ID).toBe(s1)
    expect(await consul.kv.set({ key: k, value: 'left', release: s1 })).toBe(true)
    expect(await consul.kv.set({ key: k, value: 'b', acquire: s2 })).toBe(true)
    expect((await consul.kv.get(k)).LockIndex).toBe(2)
    await consul.session.destroy(s2)
    expect((await consul.kv.get(k)).Session).toBeUndefined()
    const list = await consul.session.list()
    expect(list.some((s: any) => s.ID === s1)).toBe(true)
    await consul.session.destroy(s1)
  })

  test('txn through its transaction helper: commit and rollback', async () => {
    const p = uniq('npm/txn')
    const b64 = (s: string) => Buffer.from(s).toString('base64')
    const ok = await consul.transaction.create([
      { KV: { Verb: 'set', Key: `${p}/a`, Value: b64('A') } },
      { KV: { Verb: 'get', Key: `${p}/a` } },
    ])
    expect(ok.Errors).toBeNull()
    expect(Buffer.from(ok.Results[1].KV.Value, 'base64').toString()).toBe('A')
    let err: any
    try {
      await consul.transaction.create([
        { KV: { Verb: 'set', Key: `${p}/b`, Value: b64('B') } },
        { KV: { Verb: 'check-not-exists', Key: `${p}/a` } },
      ])
    } catch (e) {
      err = e
    }
    expect(err?.statusCode).toBe(409)
    expect(err.response.body.Errors[0].OpIndex).toBe(1)
    expect(await consul.kv.get(`${p}/b`)).toBeUndefined()
  })

  test('status and agent endpoints', async () => {
    expect(await consul.status.leader()).toBe('127.0.0.1:8300')
    expect(await consul.status.peers()).toEqual(['127.0.0.1:8300'])
    const self = await consul.agent.self()
    expect(self.Config.NodeName).toBe('kv-test-node')
  })
})
