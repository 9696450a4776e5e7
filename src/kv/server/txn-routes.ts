// PUT /v1/txn: parse and validate KV ops, run them atomically through the engine.
import type { Hono } from 'hono'
import { parseJson } from '../json.ts'
import { TXN_VERBS, entryToWire, type TxnVerb } from '../types.ts'
import { toU64 } from '../u64.ts'
import {
  HttpError,
  commonChecks,
  field,
  jsonResponse,
  methodGuard,
  queryMeta,
  readBody,
  type BunEnv,
  type Ctx,
  type ServerCtx,
} from './http.ts'
import { emptyChange } from './engine.ts'
import { evaluate, type EngineOp, type EngineOutcome } from './txn.ts'

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

export function registerTxnRoutes(app: Hono<{ Bindings: BunEnv }>, ctx: ServerCtx): void {
  app.all('/v1/txn', async (c) => {
    const bad = methodGuard(c, ['PUT'])
    if (bad) return bad
    const mode = commonChecks(c, ctx)
    const body = await readBody(c, ctx.opts.maxTxnBytes, 'txn_max_req_len')
    const ops = parseOps(body, ctx)
    const engineCtx = (next: bigint) => ({
      engine: ctx.engine,
      next,
      inLockDelay: (k: string) => ctx.sessions.inLockDelay(k),
    })
    const readOnly = ops.every((o) =>
      [
        'get',
        'get-or-empty',
        'get-tree',
        'check-index',
        'check-session',
        'check-not-exists',
      ].includes(o.verb),
    )
    let out: EngineOutcome
    if (readOnly) out = evaluate(ops, engineCtx(ctx.engine.index + 1n))
    else
      out = await ctx.engine.write((next) => {
        const o = evaluate(ops, engineCtx(next))
        return { change: o.errors.length > 0 ? emptyChange() : o.change, result: o }
      })
    const headers = readOnly ? queryMeta(undefined, mode) : {}
    if (out.errors.length > 0)
      return jsonResponse(
        c,
        409,
        { Results: null, Errors: out.errors.map((e) => ({ OpIndex: e.opIndex, What: e.what })) },
        headers,
      )
    return jsonResponse(
      c,
      200,
      {
        Results: out.results.map((r) => ({ KV: entryToWire(r.entry, r.withValue) })),
        Errors: null,
      },
      headers,
    )
  })
}

function parseOps(body: Uint8Array, ctx: ServerCtx): EngineOp[] {
  let parsed: unknown
  try {
    parsed = parseJson(new TextDecoder().decode(body))
  } catch (e) {
    throw new HttpError(400, `Failed to parse body: ${(e as Error).message}`)
  }
  if (!Array.isArray(parsed))
    throw new HttpError(400, 'Failed to parse body: expected a JSON array of operations')
  if (parsed.length > ctx.opts.maxTxnOps)
    throw new HttpError(
      413,
      `Transaction contains too many operations (${parsed.length} > ${ctx.opts.maxTxnOps})`,
    )
  return parsed.map((raw, i) => parseOp(raw, i, ctx))
}

function parseOp(raw: unknown, i: number, ctx: ServerCtx): EngineOp {
  const fail = (msg: string) => new HttpError(400, `Failed to parse body: op ${i}: ${msg}`)
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw fail('must be an object')
  const kv = field(raw as Record<string, unknown>, 'KV')
  if (kv === undefined || kv === null) {
    const other = Object.keys(raw).join(',')
    throw fail(other ? `only KV operations are supported (got ${other})` : 'missing KV')
  }
  if (typeof kv !== 'object' || Array.isArray(kv)) throw fail('KV must be an object')
  const o = kv as Record<string, unknown>
  const verb = field(o, 'Verb')
  if (typeof verb !== 'string' || !TXN_VERBS.has(verb))
    throw fail(`unknown KV verb ${JSON.stringify(verb)}`)
  const key = field(o, 'Key')
  if (key !== undefined && typeof key !== 'string') throw fail('Key must be a string')
  const op: EngineOp = { verb: verb as TxnVerb, key: key ?? '' }
  if (op.key === '' && verb !== 'get-tree' && verb !== 'delete-tree') throw fail('missing key name')
  const value = field(o, 'Value')
  if (value !== undefined && value !== null) {
    if (typeof value !== 'string' || !BASE64.test(value))
      throw fail('Value must be standard base64')
    const bytes = Buffer.from(value, 'base64')
    if (bytes.length > ctx.opts.maxValueBytes)
      throw new HttpError(
        413,
        `Value of op ${i} (${bytes.length} bytes) too large, max size: ${ctx.opts.maxValueBytes} bytes`,
      )
    op.value = new Uint8Array(bytes)
  }
  for (const [name, prop] of [
    ['Flags', 'flags'],
    ['Index', 'index'],
  ] as const) {
    const v = field(o, name)
    if (v === undefined || v === null) continue
    const n = toU64(v)
    if (n === undefined) throw fail(`${name} must be an unsigned 64-bit integer`)
    op[prop] = n
  }
  const session = field(o, 'Session')
  if (session !== undefined && session !== null) {
    if (typeof session !== 'string') throw fail('Session must be a string')
    op.session = session
  }
  return op
}
