// ConsulClient: the weft agent's client for a real Consul cluster or our embedded server.
import type { KvEntry, TxnOp } from '../types.ts'
import { parseBody, KvApi } from './kv.ts'
import { SessionApi } from './session.ts'
import { Transport, type TransportOptions } from './http.ts'
import { runTxn } from './txn.ts'
import {
  watchPrefix,
  watchQuery,
  type PrefixSnapshot,
  type Watch,
  type WatchOptions,
} from './watch.ts'

export interface AgentSelf {
  datacenter: string
  nodeName: string
  version: string
  raw: Record<string, unknown>
}

export class ConsulClient {
  readonly transport: Transport
  readonly kv: KvApi
  readonly session: SessionApi

  constructor(opts: TransportOptions) {
    this.transport = new Transport(opts)
    this.kv = new KvApi(this.transport)
    this.session = new SessionApi(this.transport)
  }

  /** The normalized base URL (http://host:port). */
  get address(): string {
    return this.transport.baseUrl
  }

  /** Atomic KV transaction; throws TxnConflictError (with every failing op) on rollback. */
  txn(ops: TxnOp[], o?: { maxOps?: number; signal?: AbortSignal }): Promise<KvEntry[]> {
    return runTxn(this.transport, ops, o)
  }

  /** Snapshots of a prefix: first the current state, then after every change. Stop with stop() or the signal. */
  watch(
    prefix: string,
    onChange: (s: PrefixSnapshot) => void | Promise<void>,
    o?: WatchOptions,
  ): Watch {
    return watchPrefix((p, q) => this.kv.list(p, q), prefix, onChange, o)
  }

  /** Watch one key (undefined while absent). */
  watchKey(
    key: string,
    onChange: (e: KvEntry | undefined, index: bigint) => void | Promise<void>,
    o?: WatchOptions,
  ): Watch {
    return watchQuery(
      (q) => this.kv.get(key, q),
      (r) => onChange(r.value, r.index),
      o,
      (a, b) => a?.modifyIndex === b?.modifyIndex && a?.session === b?.session,
    )
  }

  async leader(): Promise<string> {
    const r = await this.transport.request({
      method: 'GET',
      path: 'status/leader',
      idempotent: true,
    })
    return String(parseBody(r))
  }

  async peers(): Promise<string[]> {
    const r = await this.transport.request({
      method: 'GET',
      path: 'status/peers',
      idempotent: true,
    })
    const v = parseBody(r)
    return Array.isArray(v) ? v.map(String) : []
  }

  async agentSelf(): Promise<AgentSelf> {
    const r = await this.transport.request({ method: 'GET', path: 'agent/self', idempotent: true })
    const raw = parseBody(r) as Record<string, unknown>
    const cfg = (raw?.Config ?? {}) as Record<string, unknown>
    return {
      datacenter: String(cfg.Datacenter ?? ''),
      nodeName: String(cfg.NodeName ?? ''),
      version: String(cfg.Version ?? ''),
      raw,
    }
  }
}

export type { TransportOptions } from './http.ts'
export type { StoreTlsOptions } from './tls.ts'
export type { QueryOptions, QueryResult, PutOptions, DeleteOptions } from './kv.ts'
export type { CreateSessionOptions } from './session.ts'
export type { Watch, WatchOptions, PrefixSnapshot } from './watch.ts'
export type { BackoffOptions, RateLimit } from './backoff.ts'
export { KvHttpError, TxnConflictError, StoreIdentityError } from './errors.ts'
export { entryText } from './kv.ts'
export { sessionTtlMs } from './session.ts'
export { watchQuery } from './watch.ts'
export { CLIENT_MAX_TXN_OPS } from './txn.ts'
export { assertPortableKey } from './keys.ts'
