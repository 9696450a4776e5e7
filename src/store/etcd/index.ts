// The cluster store on etcd v3 (through its JSON gateway, see gateway.ts): the same key
// layout as on Consul, compare-and-set through txns on mod_revision, node liveness on leases
// with keep-alive, and a watch that delivers deltas.
import { OutcomeUnknownError, StoreUnreachableError, ValidationError } from '../../errors/index.ts'
import type {
  ClusterStore,
  StoreEntry,
  StoreLeases,
  StoreOp,
  StoreWatch,
  TxnOutcome,
  WatchEvent,
  WatchHandlers,
} from '../types.ts'
import { EtcdAuth } from './auth.ts'
import { EtcdGateway, b64, prefixEnd, type EtcdGatewayOptions } from './gateway.ts'
import { etcdLeases } from './leases.ts'
import { entryOf, fromEtcdTxn, toEtcdTxn, type EtcdKv, type EtcdTxnReply } from './txn.ts'
import { settleLostAnswer } from './settle.ts'
import { etcdWatch } from './watch.ts'

export { EtcdGateway, prefixEnd } from './gateway.ts'
export { EtcdServerError } from './errors.ts'
export { toEtcdTxn, fromEtcdTxn } from './txn.ts'
export { parseEtcdUrl } from './url.ts'

export interface EtcdStoreOptions {
  /** Member client URLs (http://HOST:PORT, or https:// with `tls`). */
  endpoints: string[]
  timeoutMs?: number
  tls?: EtcdGatewayOptions['tls']
  /** "USER:PASSWORD" for etcd's user authentication. */
  token?: string
  /** How long a write whose answer was lost is tried again to find out what became of it (default 3 s). */
  settleMs?: number
}

export class EtcdStore implements ClusterStore {
  readonly leases: StoreLeases
  private readonly gw: EtcdGateway
  private readonly settleMs: number

  constructor(o: EtcdStoreOptions) {
    this.gw = new EtcdGateway({
      endpoints: o.endpoints,
      timeoutMs: o.timeoutMs,
      tls: o.tls,
      auth: o.token ? EtcdAuth.parse(o.token) : undefined,
    })
    this.leases = etcdLeases(this.gw)
    this.settleMs = o.settleMs ?? 3000
  }

  get address(): string {
    return this.gw.address
  }

  async get(key: string): Promise<StoreEntry | undefined> {
    const r = await this.gw.call<{ kvs?: EtcdKv[] }>('/v3/kv/range', { key: b64(key) })
    return r.kvs?.[0] && entryOf(r.kvs[0])
  }

  async list(prefix: string): Promise<StoreEntry[]> {
    const r = await this.gw.call<{ kvs?: EtcdKv[] }>('/v3/kv/range', {
      key: b64(prefix),
      range_end: prefixEnd(prefix),
    })
    return (r.kvs ?? []).map(entryOf)
  }

  async txn(ops: StoreOp[]): Promise<TxnOutcome> {
    const writes = ops.some((o) => o.op !== 'check')
    let reply: EtcdTxnReply
    try {
      reply = await this.gw.call<EtcdTxnReply>('/v3/kv/txn', toEtcdTxn(ops), { write: writes })
    } catch (e) {
      // a read-only txn that got no answer changed nothing: unreachable, not unknown
      if (!writes && e instanceof OutcomeUnknownError)
        throw new StoreUnreachableError(e.message.replace(/; the write may.*$/, ''), { cause: e })
      if (e instanceof Error && /duplicate key|too many operations/.test(e.message)) {
        throw new ValidationError(`etcd refused the transaction: ${e.message}`)
      }
      if (e instanceof OutcomeUnknownError) return settleLostAnswer(this.gw, ops, e, this.settleMs)
      throw e
    }
    return fromEtcdTxn(ops, reply)
  }

  watch(
    prefix: string,
    onEvent: (e: WatchEvent) => void | Promise<void>,
    h?: WatchHandlers,
  ): StoreWatch {
    return etcdWatch(this.gw, prefix, onEvent, h)
  }
}
