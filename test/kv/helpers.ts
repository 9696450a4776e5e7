// Test helpers for the kv suites: start our server on 127.0.0.1 with an ephemeral port and a
// temp libSQL file (removed by cleanup), raw HTTP calls, and polling with a deadline.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serveKv, type ServedKv, type ServeKvOptions } from '../../src/kv/index.ts'
import type { KvEntry } from '../../src/kv/types.ts'
import { emptyChange, type KvEngine } from '../../src/kv/server/engine.ts'

export interface TestServer {
  kv: ServedKv
  dir: string
  dbPath: string
  /** Stop and start again on the same db file (and, when possible, the same port). */
  restart(): Promise<void>
  cleanup(): Promise<void>
}

export async function startTestServer(extra: Partial<ServeKvOptions> = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-kv-test-'))
  const dbPath = join(dir, 'kv.db')
  const opts: ServeKvOptions = {
    dbPath,
    nodeName: 'kv-test-node',
    advertise: '127.0.0.1:8300',
    hostname: '127.0.0.1',
    port: 0,
    sessionTtlMinMs: 1000,
    ...extra,
  }
  const t: TestServer = {
    kv: await serveKv(opts),
    dir,
    dbPath,
    async restart() {
      const port = t.kv.port
      await t.kv.stop()
      try {
        t.kv = await serveKv({ ...opts, port })
      } catch {
        t.kv = await serveKv({ ...opts, port: 0 })
      }
    },
    async cleanup() {
      await t.kv.stop().catch(() => undefined)
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return t
}

/** Poll `cond` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  o: { timeoutMs?: number; what: string; everyMs?: number },
): Promise<T> {
  const deadline = performance.now() + (o.timeoutMs ?? 5000)
  let last: unknown
  for (;;) {
    try {
      const v = await cond()
      if (v) return v
    } catch (e) {
      last = e
    }
    if (performance.now() > deadline)
      throw new Error(`timed out waiting for ${o.what}${last ? `: ${String(last)}` : ''}`)
    await new Promise((r) => setTimeout(r, o.everyMs ?? 20))
  }
}

export interface HttpAnswer {
  status: number
  headers: Headers
  text: string
  json: any
  ms: number
}

/** Raw HTTP call (the wire protocol, independent of our client). */
export async function http(
  baseUrl: string,
  method: string,
  path: string,
  o: {
    body?: string | Uint8Array
    token?: string
    headers?: Record<string, string>
    signal?: AbortSignal
  } = {},
): Promise<HttpAnswer> {
  const headers: Record<string, string> = { ...o.headers }
  if (o.token) headers['X-Consul-Token'] = o.token
  const t0 = performance.now()
  const r = await fetch(baseUrl + path, { method, body: o.body, headers, signal: o.signal })
  const text = await r.text()
  let json: any
  try {
    json = text ? JSON.parse(text) : undefined
  } catch {
    json = undefined
  }
  return { status: r.status, headers: r.headers, text, json, ms: performance.now() - t0 }
}

export const uniq = (p: string) =>
  `${p}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
export const b64 = (s: string) => Buffer.from(s).toString('base64')
export const unb64 = (s: string | null) => (s === null ? '' : Buffer.from(s, 'base64').toString())

/** An engine entry for `key` written at index `next` (created and modified there). */
export const entry = (key: string, value: string, next: bigint): KvEntry => ({
  key,
  value: new TextEncoder().encode(value),
  flags: 0n,
  lockIndex: 0n,
  createIndex: next,
  modifyIndex: next,
})

/** Write `key` = `value` straight through the engine (one commit); resolves with its index. */
export const putEntry = (engine: KvEngine, key: string, value: string) =>
  engine.write((next) => {
    const change = emptyChange()
    change.kv.set(key, entry(key, value, next))
    return { change, result: next }
  })
