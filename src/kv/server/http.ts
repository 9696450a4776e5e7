// HTTP plumbing shared by the routes: plain-text errors, JSON with u64, query flags
// (presence-based), blocking parameters, consistency, datacenter, headers. The token check
// is a middleware of its own (auth.ts).
import { stringifyJson } from '../json.ts'
import { parseGoDuration } from '../duration.ts'
import { parseU64 } from '../u64.ts'
import type { KvEngine } from './engine.ts'
import type { Notifier } from './notifier.ts'
import type { SessionManager } from './sessions.ts'
import type { PrefixReads } from './prefix-reads.ts'

export interface ServerOptions {
  datacenter: string
  nodeName: string
  nodeId: string
  advertise: string
  token?: string
  defaultWaitMs: number
  maxWaitMs: number
  maxValueBytes: number
  maxTxnOps: number
  maxTxnBytes: number
}

/** Everything a route needs; one per server instance (no globals). */
export interface ServerCtx {
  engine: KvEngine
  notifier: Notifier
  sessions: SessionManager
  /** List reads shared by every request until the next change (see prefix-reads.ts). */
  prefixReads: PrefixReads
  opts: ServerOptions
  closing: boolean
  /** What the server adds to every response (the ACL policy header), for answers given later. */
  respond: (res: Response) => Response
}

/** Bun's server object, handed to the routes as `c.env.server` by serveKv. */
export interface BunEnv {
  server?: { timeout(req: Request, seconds: number): void }
}

/** What a route reads of its request: Hono's Context has it, and so has PlainCtx. */
export interface Ctx {
  req: { raw: Request; method: string; header(name: string): string | undefined }
  env?: BunEnv
}

/**
 * A request's context outside Hono: KV reads are answered without it (index.ts), so a parked
 * long poll holds neither Hono's Context (15 closures of its own) nor its promise chain.
 */
export class PlainCtx implements Ctx {
  readonly req: PlainRequest
  constructor(
    raw: Request,
    readonly env?: BunEnv,
  ) {
    this.req = new PlainRequest(raw)
  }
}

class PlainRequest {
  constructor(readonly raw: Request) {}
  get method(): string {
    return this.raw.method
  }
  header(name: string): string | undefined {
    return this.raw.headers.get(name) ?? undefined
  }
}

/** An error answered as Consul does: status + plain-text message. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

/** An error as the answer: Consul's status and text for an HttpError, else a 500. */
export function errorResponse(err: unknown): Response {
  if (err instanceof HttpError) return textResponse(err.status, err.message, err.headers)
  return textResponse(500, `internal error: ${err instanceof Error ? err.message : String(err)}`)
}

export function textResponse(
  status: number,
  body: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(body, {
    status,
    headers: { 'Content-Type': 'text/plain; charset=utf-8', ...headers },
  })
}

export function jsonResponse(
  c: Ctx,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(stringifyJson(body, query(c).has('pretty')), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  })
}

const urls = new WeakMap<Request, URL>()
/** A request's URL, parsed once for the token check and the routes alike. */
export function requestUrl(req: Request): URL {
  let u = urls.get(req)
  if (!u) {
    u = new URL(req.url)
    urls.set(req, u)
  }
  return u
}
const url = (c: Ctx): URL => requestUrl(c.req.raw)

export const query = (c: Ctx): URLSearchParams => url(c).searchParams

/** Presence-based boolean flag (`?recurse=false` still means on). */
export const flag = (c: Ctx, name: string): boolean => query(c).has(name)

/** The percent-decoded path tail after `prefix` (Bun keeps %2F encoded in pathname). */
export function pathTail(c: Ctx, prefix: string): string {
  const raw = url(c).pathname.slice(prefix.length)
  try {
    return decodeURIComponent(raw)
  } catch {
    throw new HttpError(400, `Invalid URL path encoding: ${raw}`)
  }
}

export function methodGuard(c: Ctx, allowed: string[]): Response | undefined {
  const m = c.req.method
  if (allowed.includes(m)) return undefined
  if (m === 'OPTIONS')
    return new Response(null, { status: 200, headers: { Allow: allowed.join(',') } })
  return textResponse(405, `method ${m} not allowed`, { Allow: allowed.join(',') })
}

export type Consistency = 'leader' | 'stale' | 'consistent'

/** Datacenter / namespace / consistency checks every endpoint shares. */
export function commonChecks(c: Ctx, ctx: ServerCtx): Consistency {
  const q = query(c)
  const dc = q.get('dc')
  if (dc && dc !== ctx.opts.datacenter) throw new HttpError(500, 'No path to datacenter')
  for (const p of ['ns', 'partition']) {
    const v = q.get(p)
    if (v && v !== 'default')
      throw new HttpError(
        400,
        `${p}=${v}: namespaces and partitions are Consul Enterprise features, not supported`,
      )
  }
  const stale = q.has('stale')
  const consistent = q.has('consistent')
  if (stale && consistent)
    throw new HttpError(400, 'Cannot specify ?stale with ?consistent, conflicting semantics.')
  return stale ? 'stale' : consistent ? 'consistent' : 'leader'
}

export interface Blocking {
  minIndex: bigint
  waitMs: number
}

export function blockingParams(c: Ctx, ctx: ServerCtx): Blocking {
  const q = query(c)
  let minIndex = 0n
  const idx = q.get('index')
  if (idx !== null && idx !== '') {
    const v = parseU64(idx)
    if (v === undefined) throw new HttpError(400, 'Invalid index')
    minIndex = v
  }
  let waitMs = ctx.opts.defaultWaitMs
  const w = q.get('wait')
  if (w !== null && w !== '') {
    const ns = parseGoDuration(w)
    if (ns === undefined || ns < 0) throw new HttpError(400, 'Invalid wait time')
    waitMs = ns / 1e6
  }
  waitMs = Math.min(waitMs, ctx.opts.maxWaitMs)
  waitMs += Math.random() * (waitMs / 16)
  return { minIndex, waitMs }
}

export function queryMeta(index: bigint | undefined, mode: Consistency): Record<string, string> {
  const h: Record<string, string> = {
    'X-Consul-KnownLeader': 'true',
    'X-Consul-LastContact': '0',
    'X-Consul-Effective-Consistency': mode,
  }
  if (index !== undefined) h['X-Consul-Index'] = (index > 0n ? index : 1n).toString()
  return h
}

/** Read a request body, enforcing `max` bytes (413 otherwise). */
export async function readBody(c: Ctx, max: number, what: string): Promise<Uint8Array> {
  const len = Number(c.req.header('content-length') ?? '0')
  if (len > max)
    throw new HttpError(
      413,
      `Request body(${len} bytes) too large, max size: ${max} bytes. See ${what}.`,
    )
  const buf = new Uint8Array(await c.req.raw.arrayBuffer())
  if (buf.length > max)
    throw new HttpError(
      413,
      `Request body(${buf.length} bytes) too large, max size: ${max} bytes. See ${what}.`,
    )
  return buf
}

/** Look up a JSON field case-insensitively (Go's decoder matches field names that way). */
export function field(obj: Record<string, unknown>, name: string): unknown {
  if (name in obj) return obj[name]
  const lower = name.toLowerCase()
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k]
  return undefined
}
