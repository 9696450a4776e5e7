// Consul-compatible KV/session/txn HTTP server backed by libSQL (docs/CONSUL-API.md).
//
// Design notes (2026-11, our choices where Consul is ambiguous):
//  1. Index: one global u64 in libSQL (meta 'index'), assigned inside the single serialized
//     write path; all changes of one write (txn, session invalidation) share it. It is
//     persisted in the same SQL transaction as the data, so it survives restarts and never
//     goes backwards. Memory mirrors the tables; reads never touch SQL.
//  2. No-op writes (identical Value/Flags/Session/LockIndex) change nothing: no index is
//     consumed, ModifyIndex stays, nobody wakes (Consul >= 1.6).
//  3/4/5. Kept as Consul: plain PUT resets Flags to 0; release writes the body as the new
//     value; DELETE ?cas on a missing key returns true.
//  6. Status codes: unparsable numbers (flags, cas, index) and bad wait -> 400; RPC-level
//     validation (invalid session on acquire, bad TTL/Behavior/LockDelay, malformed session
//     ID on destroy) -> 500 like Consul.
//  7. Sessions: any Node name is accepted (default: our node); checks are stored and echoed
//     but never evaluated: liveness is TTL-only. Clients should send Checks: [].
//  8. TTL: invalidated exactly 2 x TTL after create/last renew; on server start every
//     persisted session gets a full 2 x TTL (Consul's leader-change behaviour). Minimum TTL
//     is configurable (sessionTtlMinMs, default 10 s); renew returns the TTL as stored.
//  9. Lock-delay lives in memory only (lost on restart, like a Consul leader change).
// 10. Tombstones are reaped 15 min after the delete (> max wait 10 min + jitter). Reaping
//     raises a persisted "reap floor"; list/keys indexes are max(entries, tombstones, floor),
//     so a prefix index never goes backwards (a reap may cause one early wake, never a drop).
// 11. Consistency: one server, reads from the committed in-memory state. ?stale and
//     ?consistent are accepted (together -> 400) and reported in X-Consul-Effective-
//     Consistency; KnownLeader is always true, LastContact 0.
// 12. /v1/status/leader = the `advertise` host:port given at start; peers = [advertise].
// 13. Txn cap 128 ops (413 above); body and any value capped at 512 KiB (413).
// 14. Unknown JSON fields in session/txn bodies are ignored (lenient for old clients);
//     field names match case-insensitively. Non-KV txn ops (Node/Service/Check) -> 400.
// 15. Keys: any non-empty UTF-8 key; leading '/' stripped (Consul's router cleans paths);
//     a '..' segment -> 400; keys over 8 KiB -> 400. Values over 512 KiB -> 413.
// 16. Blocking on a missing single key uses a per-key index (its tombstone, else the reap
//     floor, min 1): it wakes only when that key changes, not on unrelated writes.
// 17. LockIndex is preserved by plain/cas writes on a locked key (Consul resets it to 0).
// ACL: with `token` set, every request must carry it, status and agent endpoints included
// (no anonymous identity, unlike Consul): none -> 403 "Permission denied", a wrong one -> 403
// "ACL not found" (auth.ts). ?ns/?partition other than "default" -> 400; ?dc other than ours
// -> 500.
// TLS: serveKv serves https when given a certificate (the embedded store's, see secure/).
// Durability: WAL with synchronous=FULL (one fsync per write, ~0.3 ms measured); an answered
// write survives a crash or power loss, so the index never goes backwards across restarts.
import { createHash } from 'node:crypto'
import { Hono } from 'hono'
import { Notifier } from './notifier.ts'
import { SessionManager } from './sessions.ts'
import { KvEngine } from './engine.ts'
import { PrefixReads } from './prefix-reads.ts'
import { trimWhenIdle } from './idle-trim.ts'
import {
  PlainCtx,
  errorResponse,
  requestUrl,
  textResponse,
  type BunEnv,
  type ServerCtx,
  type ServerOptions,
} from './http.ts'
import { isKvRead, kvGet, registerKvRoutes } from './kv-routes.ts'
import { registerSessionRoutes } from './session-routes.ts'
import { registerTxnRoutes } from './txn-routes.ts'
import { registerStatusRoutes } from './status-routes.ts'
import { tokenCheck } from './auth.ts'

export interface KvServerOptions {
  /** libSQL database file (created if missing). */
  dbPath: string
  /** When set, every request must carry this token. */
  token?: string
  nodeName: string
  /** host:port reported by /v1/status/leader and /v1/status/peers. */
  advertise: string
  datacenter?: string
  /** Minimum session TTL in ms (Consul: 10 s). Tests lower it. */
  sessionTtlMinMs?: number
  /** Tombstone lifetime in ms (default 15 min). */
  tombstoneTtlMs?: number
  /** Blocking-query wait default / cap in ms (default 5 min / 10 min). */
  defaultWaitMs?: number
  maxWaitMs?: number
  /**
   * Quiet time after the last commit before the list cache is dropped (idle-trim.ts); default 0
   * = never. Its former saving (~2.8 MB of entry JSON) is gone without it: answers no longer keep
   * their entries' JSON (prefix-reads.ts). (It was suspected in a CI failure whose cause turned
   * out to be the local socket's idle timeout, local-socket.ts.)
   */
  idleTrimMs?: number
  /** Records of recent changes kept for delta reads (engine.ts, commit-log.ts; default 4,096). */
  logCapacity?: number
  /** Where a failed background task (tombstone reaping) is reported; default stderr. */
  onBackgroundError?: (what: string, err: unknown) => void
}

export interface KvServer {
  /** Every request enters here: the token check, then the routes. */
  fetch: (req: Request, env?: BunEnv) => Response | Promise<Response>
  /** Parked blocking queries, current index, and table sizes (tests, metrics). */
  stats(): { waiters: number; index: bigint; keys: number; tombstones: number; sessions: number }
  /** What the engine and the list cache hold (a measuring aid, see store-worker.ts). */
  census(): Record<string, number>
  close(): Promise<void>
}

export async function createKvServer(o: KvServerOptions): Promise<KvServer> {
  const engine = await KvEngine.open(o.dbPath, { logCapacity: o.logCapacity })
  const notifier = new Notifier()
  engine.onCommit((e) => notifier.notify(e))
  const opts: ServerOptions = {
    datacenter: o.datacenter ?? 'dc1',
    nodeName: o.nodeName,
    nodeId: stableUuid(o.nodeName),
    advertise: o.advertise,
    token: o.token || undefined,
    defaultWaitMs: o.defaultWaitMs ?? 5 * 60_000,
    maxWaitMs: o.maxWaitMs ?? 10 * 60_000,
    maxValueBytes: 512 * 1024,
    maxTxnOps: 128,
    maxTxnBytes: 512 * 1024,
  }
  const sessions = new SessionManager(engine, {
    nodeName: o.nodeName,
    ttlMinMs: o.sessionTtlMinMs ?? 10_000,
  })
  const prefixReads = new PrefixReads(engine)
  const policy = opts.token ? 'deny' : 'allow'
  const withPolicy = (res: Response) => {
    res.headers.set('X-Consul-Default-ACL-Policy', policy)
    return res
  }
  const ctx: ServerCtx = {
    engine,
    notifier,
    sessions,
    prefixReads,
    opts,
    closing: false,
    respond: withPolicy,
  }
  const idleMs = o.idleTrimMs ?? 0
  const idle = idleMs > 0 ? trimWhenIdle(engine, prefixReads, { idleMs }) : undefined

  // No middleware in the app: each request is Hono's single-handler dispatch (no compose, no
  // frames suspended around the route), which is what a parked long poll holds for minutes.
  // The token check and the policy header wrap the app instead (fetch below).
  const app = new Hono<{ Bindings: BunEnv }>()
  registerKvRoutes(app, ctx)
  registerSessionRoutes(app, ctx)
  registerTxnRoutes(app, ctx)
  registerStatusRoutes(app, ctx)
  app.notFound(() => textResponse(404, 'Invalid URL path: not a recognized HTTP API endpoint'))
  app.onError(errorResponse)

  const tombstoneTtl = o.tombstoneTtlMs ?? 15 * 60_000
  const reportBackground =
    o.onBackgroundError ??
    ((what, err) =>
      console.error(`kv server: ${what}: ${err instanceof Error ? err.message : String(err)}`))
  // A failed reap is retried at the next tick (tombstones only grow meanwhile); it is reported, not fatal.
  const gc = setInterval(
    () =>
      engine
        .reapTombstones(tombstoneTtl)
        .catch((e) => reportBackground('reaping tombstones failed (retried next interval)', e)),
    Math.min(60_000, tombstoneTtl),
  )
  gc.unref?.()

  const denied = opts.token ? tokenCheck(opts.token) : () => undefined
  const fetch = (req: Request, env?: BunEnv): Response | Promise<Response> => {
    const refused = denied(req)
    if (refused) return withPolicy(refused)
    // KV reads (every watch's long poll) outside Hono: a parked one then holds its record and
    // the request, not a Context and its promise chain for minutes (blocking.ts); a parked
    // read's answer comes with the policy header already (ServerCtx.respond)
    if (isKvRead(req, requestUrl(req).pathname)) {
      let res: Response | Promise<Response>
      try {
        res = kvGet(new PlainCtx(req, env), ctx)
      } catch (err) {
        res = errorResponse(err)
      }
      return res instanceof Promise ? res : withPolicy(res)
    }
    const res = app.fetch(req, env ?? {})
    return res instanceof Promise ? res.then(withPolicy) : withPolicy(res)
  }

  return {
    fetch,
    stats: () => ({
      waiters: notifier.size,
      index: engine.index,
      keys: engine.entries.size,
      tombstones: engine.tombstones.size,
      sessions: engine.sessions.size,
    }),
    census: () => ({
      ...engine.census(),
      waiters: notifier.size,
      idleTrims: idle?.trims ?? 0,
      ...Object.fromEntries(
        Object.entries(prefixReads.census()).map(([k, v]) => [`cached_${k}`, v]),
      ),
    }),
    async close() {
      if (ctx.closing) return
      ctx.closing = true
      clearInterval(gc)
      idle?.stop()
      sessions.close()
      notifier.wakeAll()
      await engine.close()
    },
  }
}

export interface ServeKvOptions extends KvServerOptions {
  hostname: string
  /** 0 = ephemeral port. */
  port: number
  /** Bun idle timeout in seconds for ordinary requests (blocking ones lift it). Default 30. */
  idleTimeout?: number
  /**
   * Serve https with this PEM certificate (leaf first, then its CA, so joiners can pin it) and
   * key. `ca`: the CA alone. No client certificate is asked for either way, but without a CA
   * Bun's server context loads its default CA store: 1.7 MB more resident in a store thread
   * (bench/results/store-host-rss-2026-12-03.md), for a server that checks no client.
   */
  tls?: { cert: string; key: string; ca?: string }
}

export interface ServedKv {
  url: string
  port: number
  server: KvServer
  stats: KvServer['stats']
  stop(): Promise<void>
}

/** Create the server and listen with Bun.serve. Blocking queries lift Bun's idle timeout per request. */
export async function serveKv(o: ServeKvOptions): Promise<ServedKv> {
  const kv = await createKvServer(o)
  let bun: ReturnType<typeof Bun.serve>
  try {
    bun = Bun.serve({
      hostname: o.hostname,
      port: o.port,
      idleTimeout: o.idleTimeout ?? 30,
      ...(o.tls
        ? { tls: { cert: o.tls.cert, key: o.tls.key, ...(o.tls.ca ? { ca: o.tls.ca } : {}) } }
        : {}),
      fetch: (req, server) => kv.fetch(req, { server }),
    })
  } catch (e) {
    await kv.close()
    throw e
  }
  const port = bun.port ?? o.port
  const host = o.hostname.includes(':') ? `[${o.hostname}]` : o.hostname
  return {
    url: `${o.tls ? 'https' : 'http'}://${host}:${port}`,
    port,
    server: kv,
    stats: kv.stats,
    async stop() {
      await kv.close()
      await bun.stop(true)
    },
  }
}

function stableUuid(seed: string): string {
  const h = createHash('sha256').update(`weft-node:${seed}`).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`
}
