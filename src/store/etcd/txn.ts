// Store transactions as etcd txns: every condition is a compare on the key's mod_revision
// (0: the key is absent), the writes are the success branch, and the failure branch reads
// the compared keys back so the answer can name which conditions did not hold.
import type { StoreEntry, StoreOp, TxnOutcome } from '../types.ts'
import { b64, prefixEnd, rev, unb64 } from './gateway.ts'

export interface EtcdKv {
  key: string
  value?: string
  mod_revision?: string
  create_revision?: string
  lease?: string
}

export interface EtcdTxnRequest {
  compare: { key: string; target: 'MOD'; result: 'EQUAL'; mod_revision: string }[]
  success: Record<string, unknown>[]
  failure: Record<string, unknown>[]
}

export interface EtcdTxnReply {
  header: { revision?: string }
  succeeded?: boolean
  responses?: { response_range?: { kvs?: EtcdKv[] } }[]
}

/** The revision an op is conditioned on, or undefined when it has no condition. */
function condition(op: StoreOp): { key: string; revision: bigint } | undefined {
  if (op.op === 'check') return { key: op.key, revision: op.revision }
  if ((op.op === 'put' || op.op === 'delete') && op.ifRevision !== undefined)
    return { key: op.key, revision: op.ifRevision }
  return undefined
}

export function toEtcdTxn(ops: StoreOp[]): EtcdTxnRequest {
  const compare: EtcdTxnRequest['compare'] = []
  const failure: EtcdTxnRequest['failure'] = []
  const success: EtcdTxnRequest['success'] = []
  for (const op of ops) {
    const c = condition(op)
    if (c) {
      compare.push({
        key: b64(c.key),
        target: 'MOD',
        result: 'EQUAL',
        mod_revision: c.revision.toString(),
      })
      failure.push({ request_range: { key: b64(c.key) } })
    }
    if (op.op === 'put') success.push({ request_put: { key: b64(op.key), value: b64(op.value) } })
    else if (op.op === 'delete') success.push({ request_delete_range: { key: b64(op.key) } })
    else if (op.op === 'delete-prefix')
      success.push({
        request_delete_range: { key: b64(op.prefix), range_end: prefixEnd(op.prefix) },
      })
  }
  return { compare, success, failure }
}

/** The outcome of `toEtcdTxn(ops)` from etcd's reply. */
export function fromEtcdTxn(ops: StoreOp[], reply: EtcdTxnReply): TxnOutcome {
  if (reply.succeeded) {
    const revision = rev(reply.header.revision)
    const written: StoreEntry[] = ops.flatMap((o) =>
      o.op === 'put' ? [{ key: o.key, value: o.value, modifyIndex: revision }] : [],
    )
    return { ok: true, written }
  }
  // the failure branch read each compared key, in the order of the compares
  const now = (reply.responses ?? []).map((r) => rev(r.response_range?.kvs?.[0]?.mod_revision))
  const failed: number[] = []
  let i = 0
  for (const [index, op] of ops.entries()) {
    const c = condition(op)
    if (!c) continue
    const seen = now[i++]
    if (seen === undefined || seen !== c.revision) failed.push(index)
  }
  // cannot happen (the failure branch reads at the compares' revision); if it did, name them all
  return {
    ok: false,
    failed: failed.length ? failed : ops.flatMap((o, index) => (condition(o) ? [index] : [])),
  }
}

export const entryOf = (kv: EtcdKv): StoreEntry => ({
  key: unb64(kv.key),
  value: unb64(kv.value),
  modifyIndex: rev(kv.mod_revision),
})
