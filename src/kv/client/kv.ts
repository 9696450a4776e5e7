// KV endpoints: get (single/raw), list (recurse), keys (separator), put (flags, cas,
// acquire, release), delete (recurse, cas). Reads may block (index/wait).
import { parseJson } from '../json.ts'
import type { KvEntry, WireEntry } from '../types.ts'
import { toU64 } from '../u64.ts'
import { formatMs } from '../duration.ts'
import { SINCE_PARAM } from '../delta-wire.ts'
import { isDelta, parseDelta, type PrefixChanges } from './delta.ts'
import { KvHttpError } from './errors.ts'
import { encodeKey, queryMeta, type QueryMeta, type RawResponse, type Transport } from './http.ts'

export interface QueryOptions {
  /** Block until the result index is above this (0n/undefined: answer now). */
  index?: bigint
  /** Max blocking time in ms (server caps at 10 min). Default: the server's (5 min). */
  waitMs?: number
  consistency?: 'stale' | 'consistent'
  signal?: AbortSignal
  /** Override retry count (the watch loop passes 0 and backs off itself). */
  retries?: number
}

export interface QueryResult<T> extends QueryMeta {
  value: T
}

export interface PutOptions {
  flags?: bigint
  /** 0n = create only; N = only if ModifyIndex == N. */
  cas?: bigint
  acquire?: string
  release?: string
}

export interface DeleteOptions {
  recurse?: boolean
  cas?: bigint
}

const dec = new TextDecoder()
const enc = new TextEncoder()

export function entryFromWire(w: WireEntry): KvEntry {
  const e: KvEntry = {
    key: w.Key,
    value: w.Value ? new Uint8Array(Buffer.from(w.Value, 'base64')) : new Uint8Array(0),
    flags: toU64(w.Flags) ?? 0n,
    lockIndex: toU64(w.LockIndex) ?? 0n,
    createIndex: toU64(w.CreateIndex) ?? 0n,
    modifyIndex: toU64(w.ModifyIndex) ?? 0n,
  }
  if (w.Session) e.session = w.Session
  return e
}

/** The value of an entry as UTF-8 text. */
export const entryText = (e: KvEntry): string => dec.decode(e.value)

/** Socket timeout for a blocking read: wait + wait/16 jitter + slack. */
export function blockingTimeout(opts: QueryOptions, base: number): number | undefined {
  if (!opts.index) return undefined
  const wait = opts.waitMs ?? 5 * 60_000
  return Math.ceil(wait + wait / 16 + Math.max(base, 5_000))
}

export class KvApi {
  constructor(private readonly t: Transport) {}

  private read(
    path: string,
    q: Record<string, string | boolean | undefined>,
    o: QueryOptions,
  ): Promise<RawResponse> {
    return this.t.request({
      method: 'GET',
      path,
      query: {
        ...q,
        index: o.index ? o.index.toString() : undefined,
        wait: o.index && o.waitMs !== undefined ? formatMs(o.waitMs) : undefined,
        stale: o.consistency === 'stale',
        consistent: o.consistency === 'consistent',
      },
      idempotent: true,
      accept: [404],
      timeoutMs: blockingTimeout(o, this.t.opts.timeoutMs ?? 10_000),
      signal: o.signal,
      retries: o.retries,
    })
  }

  /** One key; value undefined when absent (404 is an answer, with its index). */
  async get(key: string, o: QueryOptions = {}): Promise<QueryResult<KvEntry | undefined>> {
    const r = await this.read(`kv/${encodeKey(key)}`, {}, o)
    if (r.status === 404) return { ...queryMeta(r.headers), value: undefined }
    const arr = parseArray<WireEntry>(r)
    return { ...queryMeta(r.headers), value: arr[0] ? entryFromWire(arr[0]) : undefined }
  }

  /** Raw value bytes of one key; undefined when absent. */
  async getRaw(key: string, o: QueryOptions = {}): Promise<QueryResult<Uint8Array | undefined>> {
    const r = await this.read(`kv/${encodeKey(key)}`, { raw: true }, o)
    return { ...queryMeta(r.headers), value: r.status === 404 ? undefined : r.body }
  }

  /** Every entry under a byte prefix (recurse), sorted by key; [] when none. */
  async list(prefix: string, o: QueryOptions = {}): Promise<QueryResult<KvEntry[]>> {
    const r = await this.read(`kv/${encodeKey(prefix)}`, { recurse: true }, o)
    return { ...queryMeta(r.headers), value: listedEntries(r) }
  }

  /**
   * Every entry under a prefix, or (weft's own store, `since` given) only what changed after
   * index `since`: the entries modified since and the keys deleted since. Any other answer is
   * the full list (a real Consul ignores the ask), so the caller handles both.
   */
  async listSince(
    prefix: string,
    since: bigint | undefined,
    o: QueryOptions = {},
  ): Promise<QueryResult<PrefixChanges>> {
    const r = await this.read(
      `kv/${encodeKey(prefix)}`,
      { recurse: true, [SINCE_PARAM]: since?.toString() },
      o,
    )
    const meta = queryMeta(r.headers)
    if (isDelta(r, since))
      return {
        ...meta,
        value: { kind: 'delta', since: since!, ...parseDelta(parseBody(r), r, entryFromWire) },
      }
    return { ...meta, value: { kind: 'full', entries: listedEntries(r) } }
  }

  /** Key names under a prefix, truncated after `separator` when given; [] when none. */
  async keys(
    prefix: string,
    o: QueryOptions & { separator?: string } = {},
  ): Promise<QueryResult<string[]>> {
    const r = await this.read(`kv/${encodeKey(prefix)}`, { keys: true, separator: o.separator }, o)
    if (r.status === 404) return { ...queryMeta(r.headers), value: [] }
    return { ...queryMeta(r.headers), value: parseArray<string>(r) }
  }

  /** PUT; true when written (false: cas mismatch, lock held / lock-delay, release not held). Not retried. */
  async put(key: string, value: Uint8Array | string, o: PutOptions = {}): Promise<boolean> {
    const r = await this.t.request({
      method: 'PUT',
      path: `kv/${encodeKey(key)}`,
      query: {
        flags: o.flags !== undefined ? o.flags.toString() : undefined,
        cas: o.cas !== undefined ? o.cas.toString() : undefined,
        acquire: o.acquire,
        release: o.release,
      },
      body: typeof value === 'string' ? enc.encode(value) : value,
      idempotent: false,
    })
    return parseBool(r)
  }

  /** DELETE; true when deleted or absent (false: cas mismatch). Not retried. */
  async delete(key: string, o: DeleteOptions = {}): Promise<boolean> {
    const r = await this.t.request({
      method: 'DELETE',
      path: `kv/${encodeKey(key)}`,
      query: { recurse: o.recurse, cas: o.cas !== undefined ? o.cas.toString() : undefined },
      idempotent: false,
    })
    return parseBool(r)
  }
}

export function parseBody(r: RawResponse): unknown {
  try {
    const text = dec.decode(r.body)
    return parseJson(text) // a plain JSON.parse unless a long number is in it
  } catch (e) {
    throw new KvHttpError(r.endpoint, r.status, `undecodable JSON answer: ${(e as Error).message}`)
  }
}

/** A recursive list read's entries: Consul answers an empty prefix with 404. */
function listedEntries(r: RawResponse): KvEntry[] {
  return r.status === 404 ? [] : parseArray<WireEntry>(r).map(entryFromWire)
}

function parseArray<T>(r: RawResponse): T[] {
  const v = parseBody(r)
  if (!Array.isArray(v)) throw new KvHttpError(r.endpoint, r.status, 'expected a JSON array')
  return v as T[]
}

function parseBool(r: RawResponse): boolean {
  const v = parseBody(r)
  if (typeof v !== 'boolean')
    throw new KvHttpError(
      r.endpoint,
      r.status,
      `expected true/false, got ${dec.decode(r.body).slice(0, 100)}`,
    )
  return v
}
