// /v1/kv/<key>: GET (single, raw, recurse, keys, separator; blocking), PUT (plain, cas,
// flags, acquire, release), DELETE (plain, recurse, cas). Writes go through the txn engine
// as one op so HTTP and /v1/txn share one implementation of every verb.
import type { Hono } from 'hono'
import { entryToWire } from '../types.ts'
import { parseU64 } from '../u64.ts'
import { blockingQuery } from './blocking.ts'
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
  type Ctx,
  type ServerCtx,
} from './http.ts'
import { DELTA_HEADER, SINCE_PARAM } from '../delta-wire.ts'
import { emptyChange } from './engine.ts'
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
  app.all('/v1/kv/*', async (c) => {
    const bad = methodGuard(c, ['GET', 'PUT', 'DELETE'])
    if (bad) return bad
    if (c.req.method === 'GET') return kvGet(c, ctx)
    if (c.req.method === 'PUT') return kvPut(c, ctx)
    return kvDelete(c, ctx)
  })
}

async function kvGet(c: Ctx, ctx: ServerCtx): Promise<Response> {
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
  const { engine } = ctx

  if (!keysMode && !recurse) {
    const r = await blockingQuery(
      c,
      ctx,
      b,
      (e) => e.kvKeys.includes(key),
      () => ({ index: engine.keyIndex(key), entry: engine.entries.get(key) }),
      key,
    )
    const meta = queryMeta(r.index, mode)
    if (!r.entry) return new Response(null, { status: 404, headers: meta })
    if (raw)
      return new Response(r.entry.value, {
        status: 200,
        headers: {
          ...meta,
          'Content-Type': 'text/plain',
          'X-Content-Type-Options': 'nosniff',
          'Content-Security-Policy': 'sandbox',
        },
      })
    return jsonResponse(c, 200, [entryToWire(r.entry)], meta)
  }

  const r = await blockingQuery(
    c,
    ctx,
    b,
    (e) => e.kvKeys.some((k) => k.startsWith(key)),
    (): { index: bigint; delta: PrefixDelta } | { index: bigint; read: PrefixRead } => {
      // a delta costs the changes since `since`; only a reader the store cannot answer so
      // (see PrefixReads.delta) gets the list, read in the same turn: one state of the store
      const delta = since === undefined ? undefined : ctx.prefixReads.delta(key, since)
      if (delta) return { index: delta.index, delta }
      const read = ctx.prefixReads.read(key)
      return { index: read.index, read }
    },
    key,
  )
  const meta = queryMeta(r.index, mode)
  if ('delta' in r)
    return new Response(r.delta.body(), {
      status: 200,
      headers: { 'Content-Type': 'application/json', ...meta, [DELTA_HEADER]: since!.toString() },
    })
  if (keysMode) {
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
