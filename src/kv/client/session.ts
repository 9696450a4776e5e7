// Session endpoints and a keep-alive helper that renews at half the TTL the server returns.
import type { SessionBehavior, SessionInfo } from '../types.ts'
import { parseGoDuration, formatMs } from '../duration.ts'
import { toU64 } from '../u64.ts'
import { sleep } from './backoff.ts'
import { KvHttpError } from './errors.ts'
import { queryMeta, type Transport } from './http.ts'
import { blockingTimeout, parseBody, type QueryOptions, type QueryResult } from './kv.ts'

export interface CreateSessionOptions {
  name?: string
  /** TTL in ms (>= the server's minimum, 10 s on Consul). Omit for no TTL. */
  ttlMs?: number
  behavior?: SessionBehavior
  /** Lock delay in ms (default server's 15 s; 0 disables). */
  lockDelayMs?: number
  node?: string
  /** Node check IDs; default [] (TTL-only liveness, see docs/CONSUL-API.md §4.4). */
  checks?: string[]
}

export function sessionFromWire(w: Record<string, unknown>): SessionInfo {
  return {
    id: String(w.ID ?? ''),
    name: String(w.Name ?? ''),
    node: String(w.Node ?? ''),
    lockDelayNs: toU64(w.LockDelay) ?? 0n,
    behavior: w.Behavior === 'delete' ? 'delete' : 'release',
    ttl: String(w.TTL ?? ''),
    nodeChecks: (w.NodeChecks ?? w.Checks ?? null) as string[] | null,
    serviceChecks: (w.ServiceChecks ?? null) as SessionInfo['serviceChecks'],
    createIndex: toU64(w.CreateIndex) ?? 0n,
    modifyIndex: toU64(w.ModifyIndex) ?? 0n,
  }
}

/** TTL of a session in ms (0 when none). */
export const sessionTtlMs = (s: SessionInfo): number =>
  s.ttl ? (parseGoDuration(s.ttl) ?? 0) / 1e6 : 0

export class SessionApi {
  constructor(private readonly t: Transport) {}

  /** Create a session; returns its ID. Not retried (a retry could leak a session). */
  async create(o: CreateSessionOptions = {}): Promise<string> {
    const body: Record<string, unknown> = {
      Name: o.name ?? '',
      Behavior: o.behavior ?? 'release',
      Checks: o.checks ?? [],
    }
    if (o.ttlMs !== undefined) body.TTL = formatMs(o.ttlMs)
    if (o.lockDelayMs !== undefined) body.LockDelay = formatMs(o.lockDelayMs)
    if (o.node) body.Node = o.node
    const r = await this.t.request({
      method: 'PUT',
      path: 'session/create',
      body: JSON.stringify(body),
      idempotent: false,
    })
    const v = parseBody(r) as { ID?: unknown }
    if (typeof v?.ID !== 'string') throw new KvHttpError(r.endpoint, r.status, 'answer has no ID')
    return v.ID
  }

  /** Renew; the returned session carries the TTL to use from now on. undefined when the session is gone (404). */
  async renew(id: string, signal?: AbortSignal): Promise<SessionInfo | undefined> {
    const r = await this.t.request({
      method: 'PUT',
      path: `session/renew/${encodeURIComponent(id)}`,
      idempotent: true,
      accept: [404],
      signal,
    })
    if (r.status === 404) return undefined
    const arr = parseBody(r) as Record<string, unknown>[]
    return Array.isArray(arr) && arr[0] ? sessionFromWire(arr[0]) : undefined
  }

  /** Destroy (invalidate) a session; idempotent. */
  async destroy(id: string): Promise<void> {
    await this.t.request({
      method: 'PUT',
      path: `session/destroy/${encodeURIComponent(id)}`,
      idempotent: true,
    })
  }

  async info(id: string, o: QueryOptions = {}): Promise<QueryResult<SessionInfo | undefined>> {
    const r = await this.list(`session/info/${encodeURIComponent(id)}`, o)
    return { ...r, value: r.value[0] }
  }

  node(node: string, o: QueryOptions = {}): Promise<QueryResult<SessionInfo[]>> {
    return this.list(`session/node/${encodeURIComponent(node)}`, o)
  }

  all(o: QueryOptions = {}): Promise<QueryResult<SessionInfo[]>> {
    return this.list('session/list', o)
  }

  private async list(path: string, o: QueryOptions): Promise<QueryResult<SessionInfo[]>> {
    const r = await this.t.request({
      method: 'GET',
      path,
      query: {
        index: o.index ? o.index.toString() : undefined,
        wait: o.index && o.waitMs !== undefined ? formatMs(o.waitMs) : undefined,
        stale: o.consistency === 'stale',
        consistent: o.consistency === 'consistent',
      },
      idempotent: true,
      timeoutMs: blockingTimeout(o, this.t.opts.timeoutMs ?? 10_000),
      signal: o.signal,
      retries: o.retries,
    })
    const arr = parseBody(r)
    return {
      ...queryMeta(r.headers),
      value: Array.isArray(arr)
        ? arr.map((w) => sessionFromWire(w as Record<string, unknown>))
        : [],
    }
  }

  /**
   * Keep a session alive: renew every TTL/2 (using the TTL each renew returns). Calls
   * `onLost` once when the server says the session is gone (stop acting as holder then).
   * Transient errors are reported to `onError` and retried sooner (TTL/6).
   */
  keepAlive(
    id: string,
    ttlMs: number,
    h: { signal?: AbortSignal; onLost?: () => void; onError?: (e: unknown) => void } = {},
  ): { stop(): void; done: Promise<void> } {
    const ac = new AbortController()
    const signal = h.signal ? AbortSignal.any([h.signal, ac.signal]) : ac.signal
    const done = (async () => {
      let ttl = ttlMs
      let delay = ttl / 2
      for (;;) {
        try {
          await sleep(delay, signal)
          const s = await this.renew(id, signal)
          if (!s) {
            h.onLost?.()
            return
          }
          ttl = sessionTtlMs(s) || ttl
          delay = ttl / 2
        } catch (e) {
          if (signal.aborted) return
          h.onError?.(e)
          delay = Math.max(50, ttl / 6)
        }
      }
    })()
    return { stop: () => ac.abort(), done }
  }
}
