// /v1/kv/<key>: GET (single, raw, recurse, keys, separator; blocking), PUT (plain, cas,
// flags, acquire, release), DELETE (plain, recurse, cas). Writes go through the txn engine
// as one op so HTTP and /v1/txn share one implementation of every verb.
import type { Hono } from 'hono'
import { entryToWire, type KvEntry } from '../types.ts'
import { parseU64 } from '../u64.ts'
import { blockingQuery, type BlockingRead } from './blocking.ts'
import {
  HttpError,
  blockingParams,
  commonChecks,
  flag,
  jsonResponse,
  methodGuard,
  pathTail,
  query,
  queryMeta,
  readBody,
  textResponse,
  type BunEnv,
  type Consistency,
  type Ctx,
  type ServerCtx,
} from './http.ts'
import { DELTA_HEADER, SINCE_PARAM } from '../delta-wire.ts'
import { emptyChange, type CommitEvent } from './engine.ts'
import { evaluate, type EngineOp } from './txn.ts'
import type { PrefixDelta, PrefixRead } from './prefix-reads.ts'

const PREFIX = '/v1/kv/'
export const MAX_KEY_BYTES = 8192

/** Decode and validate the key of a /v1/kv request ('' allowed for listings). */
function keyOf(c: Ctx): string {
  const key = pathTail(c, PREFIX).replace(/^\/+/, '')
  if (Buffer.byteLength(key) > MAX_KEY_BYTES)
    throw new HttpError(400, `Invalid key: longer than ${MAX_KEY_BYTES} bytes`)
  if (key.split('/').includes('..'))
    throw new HttpError(400, `Invalid key "${key}": path traversal ('..') is not allowed`)
  return key
}

function u64Param(c: Ctx, name: string): bigint | undefined {
  const v = query(c).get(name)
  if (v === null) return undefined
  const n = parseU64(v)
  if (n === undefined)
    throw new HttpError(400, `Invalid ${name} value "${v}": must be an unsigned 64-bit integer`)
  return n
}

export function registerKvRoutes(app: Hono<{ Bindings: BunEnv }>, ctx: ServerCtx): void {
  app.all('/v1/kv/*', (c) => {
    const bad = methodGuard(c, ['GET', 'PUT', 'DELETE'])
    if (bad) return bad
    if (c.req.method === 'GET') return kvGet(c, ctx)
    if (c.req.method === 'PUT') return kvPut(c, ctx)
    return kvDelete(c, ctx)
  })
}

/** Whether `kvGet` answers this request outside Hono (index.ts): a GET of /v1/kv/<key>. */
export const isKvRead = (req: Request, pathname: string): boolean =>
  req.method === 'GET' && pathname.startsWith(PREFIX)

/**
 * GET /v1/kv/<key>: synchronous up to parking (errors are thrown, as HttpError), so a parked
 * read holds its ParkedQuery and the read below, no async frames (blocking.ts).
 */
export function kvGet(c: Ctx, ctx: ServerCtx): Response | Promise<Response> {
  const mode = commonChecks(c, ctx)
  const key = keyOf(c)
  const keysMode = flag(c, 'keys')
  const recurse = flag(c, 'recurse')
  const raw = flag(c, 'raw')
  const sep = query(c).get('separator') ?? query(c).get('seperator') ?? ''
  if (!keysMode && !recurse && key === '') throw new HttpError(400, 'Missing key name')
  const since = u64Param(c, SINCE_PARAM)
  if (since !== undefined && (keysMode || !recurse))
    throw new HttpError(
      400,
      `${SINCE_PARAM} asks for the changes of a listing: use it with ?recurse, not with ?keys or on a single key`,
    )
  const b = blockingParams(c, ctx)
  if (!keysMode && !recurse) return blockingQuery(c, ctx, b, new KeyRead(c, ctx, key, raw, mode))
  return blockingQuery(c, ctx, b, new ListRead(c, ctx, key, mode, keysMode, sep, since))
}

/** A single key's read (raw or JSON), its blocking index the key's own. */
class KeyRead implements BlockingRead<{ index: bigint; entry: KvEntry | undefined }> {
  constructor(
    private readonly c: Ctx,
    private readonly ctx: ServerCtx,
    readonly interest: string,
    private readonly raw: boolean,
    private readonly mode: Consistency,
  ) {}

  matches(e: CommitEvent): boolean {
    return e.kvKeys.includes(this.interest)
  }

  run(): { index: bigint; entry: KvEntry | undefined } {
    const key = this.interest
    return { index: this.ctx.engine.keyIndex(key), entry: this.ctx.engine.entries.get(key) }
  }

  answer(r: { index: bigint; entry: KvEntry | undefined }): Response {
    const meta = queryMeta(r.index, this.mode)
    if (!r.entry) return new Response(null, { status: 404, headers: meta })
    if (this.raw)
      return new Response(r.entry.value, {
        status: 200,
        headers: {
          ...meta,
          'Content-Type': 'text/plain',
          'X-Content-Type-Options': 'nosniff',
          'Content-Security-Policy': 'sandbox',
        },
      })
    return jsonResponse(this.c, 200, [entryToWire(r.entry)], meta)
  }
}

type ListResult = { index: bigint; delta: PrefixDelta } | { index: bigint; read: PrefixRead }

/** A listing (?recurse, ?keys, a delta with ?since) of a prefix. */
class ListRead implements BlockingRead<ListResult> {
  constructor(
    private readonly c: Ctx,
    private readonly ctx: ServerCtx,
    readonly interest: string,
    private readonly mode: Consistency,
    private readonly keysMode: boolean,
    private readonly sep: string,
    private readonly since: bigint | undefined,
  ) {}

  matches(e: CommitEvent): boolean {
    return e.kvKeys.some((k) => k.startsWith(this.interest))
  }

  run(): ListResult {
    // a delta costs the changes since `since`; only a reader the store cannot answer so
    // (see PrefixReads.delta) gets the list, read in the same turn: one state of the store
    const key = this.interest
    const delta = this.since === undefined ? undefined : this.ctx.prefixReads.delta(key, this.since)
    if (delta) return { index: delta.index, delta }
    const read = this.ctx.prefixReads.read(key)
    return { index: read.index, read }
  }

  answer(r: ListResult): Response {
    const { c, interest: key, sep } = this
    const meta = queryMeta(r.index, this.mode)
    if ('delta' in r)
      return new Response(r.delta.body(), {
        status: 200,
        headers: {
          'Content-Type': 'application/json',
          ...meta,
          [DELTA_HEADER]: this.since!.toString(),
        },
      })
    if (this.keysMode) {
      const out: string[] = []
      const seen = new Set<string>()
      for (const e of r.read.entries) {
        let k = e.key
        if (sep) {
          const at = k.indexOf(sep, key.length)
          if (at >= 0) k = k.slice(0, at + sep.length)
        }
        if (!seen.has(k)) {
          seen.add(k)
          out.push(k)
        }
      }
      if (out.length === 0 && key !== '') return new Response(null, { status: 404, headers: meta })
      return jsonResponse(c, 200, out, meta)
    }
    if (r.read.entries.length === 0) return new Response(null, { status: 404, headers: meta })
    if (query(c).has('pretty'))
      return jsonResponse(
        c,
        200,
        r.read.entries.map((e) => entryToWire(e)),
        meta,
      )
    return new Response(r.read.body(), {
      status: 200,
      headers: { 'Content-Type': 'application/json', ...meta },
    })
  }
}

/** Run one engine op as a write; returns whether it succeeded and the first error text. */
async function runOne(ctx: ServerCtx, op: EngineOp): Promise<{ ok: boolean; what?: string }> {
  return ctx.engine.write((next) => {
    const out = evaluate([op], {
      engine: ctx.engine,
      next,
      inLockDelay: (k) => ctx.sessions.inLockDelay(k),
    })
    const failed = out.errors[0]
    return {
      change: failed ? emptyChange() : out.change,
      result: failed ? { ok: false, what: failed.what } : { ok: true },
    }
  })
}

async function kvPut(c: Ctx, ctx: ServerCtx): Promise<Response> {
  commonChecks(c, ctx)
  const key = keyOf(c)
  if (key === '') throw new HttpError(400, 'Missing key name')
  const q = query(c)
  const present = ['cas', 'acquire', 'release'].filter((p) => q.has(p))
  if (present.length > 1) throw new HttpError(400, `Conflicting flags: ${q.toString()}`)
  const flags = u64Param(c, 'flags') ?? 0n
  const cas = u64Param(c, 'cas')
  const value = await readBody(c, ctx.opts.maxValueBytes, 'kv_max_value_size')
  const op: EngineOp = { verb: 'set', key, value, flags }
  if (cas !== undefined) Object.assign(op, { verb: 'cas', index: cas })
  else if (q.has('acquire')) Object.assign(op, { verb: 'lock', session: q.get('acquire') ?? '' })
  else if (q.has('release')) Object.assign(op, { verb: 'unlock', session: q.get('release') ?? '' })
  const r = await runOne(ctx, op)
  if (!r.ok && r.what?.startsWith('invalid session')) return textResponse(500, r.what)
  return jsonResponse(c, 200, r.ok)
}

async function kvDelete(c: Ctx, ctx: ServerCtx): Promise<Response> {
  commonChecks(c, ctx)
  const key = keyOf(c)
  const recurse = flag(c, 'recurse')
  if (recurse && query(c).has('cas'))
    throw new HttpError(400, `Conflicting flags: ${query(c).toString()}`)
  if (!recurse && key === '') throw new HttpError(400, 'Missing key name')
  const cas = u64Param(c, 'cas')
  const op: EngineOp = recurse
    ? { verb: 'delete-tree', key }
    : cas !== undefined
      ? { verb: 'delete-cas', key, index: cas }
      : { verb: 'delete', key }
  const r = await runOne(ctx, op)
  return jsonResponse(c, 200, r.ok)
}
