// A write whose answer was lost (the member timed out, the leader died mid-request) is found
// out rather than reported unknown, when the transaction conditions a key it writes: sent
// again, it cannot apply twice (the first, if applied, moved that key's mod_revision). The
// second try commits (the first had not been applied, and now never will: its compares fail),
// or its compares fail and the keys show our values at one revision (the first was applied).
// Anything else stays unknown, as the store interface says.
import { OutcomeUnknownError, StoreUnreachableError } from '../../errors/index.ts'
import type { StoreOp, TxnOutcome } from '../types.ts'
import { b64, rev, unb64, type EtcdGateway } from './gateway.ts'
import { fromEtcdTxn, toEtcdTxn, type EtcdKv, type EtcdTxnReply } from './txn.ts'

/** The txn guards a key it writes itself, so sending it twice applies it at most once. */
export function selfGuarded(ops: StoreOp[]): boolean {
  return ops.some((o) => (o.op === 'put' || o.op === 'delete') && o.ifRevision !== undefined)
}

export async function settleLostAnswer(
  gw: EtcdGateway,
  ops: StoreOp[],
  lost: OutcomeUnknownError,
  budgetMs: number,
): Promise<TxnOutcome> {
  if (!selfGuarded(ops) || ops.some((o) => o.op === 'delete-prefix')) throw lost
  const deadline = Date.now() + budgetMs
  for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
    let reply: EtcdTxnReply | undefined
    try {
      reply = await gw.call<EtcdTxnReply>('/v3/kv/txn', toEtcdTxn(ops), { write: true })
    } catch (e) {
      if (!(e instanceof StoreUnreachableError)) throw e // OutcomeUnknownError is one too
    }
    if (reply?.succeeded) return fromEtcdTxn(ops, reply)
    if (reply) return (await appliedBefore(gw, ops)) ?? Promise.reject(lost)
    if (Date.now() + delay > deadline) throw lost
    await Bun.sleep(delay)
  }
}

/** Our txn's effects, if the keys show them: every put at one revision with our value, every delete gone. */
async function appliedBefore(gw: EtcdGateway, ops: StoreOp[]): Promise<TxnOutcome | undefined> {
  const keys = ops.flatMap((o) => (o.op === 'put' || o.op === 'delete' ? [o.key] : []))
  const reply = await gw
    .call<{ responses?: { response_range?: { kvs?: EtcdKv[] } }[] }>('/v3/kv/txn', {
      compare: [],
      success: keys.map((k) => ({ request_range: { key: b64(k) } })),
      failure: [],
    })
    .catch(() => undefined)
  if (!reply) return undefined
  const now = new Map(keys.map((k, i) => [k, reply.responses?.[i]?.response_range?.kvs?.[0]]))
  const revisions = new Set<bigint>()
  for (const o of ops) {
    if (o.op === 'delete' && now.get(o.key)) return undefined
    if (o.op !== 'put') continue
    const kv = now.get(o.key)
    if (!kv || unb64(kv.value) !== o.value) return undefined
    revisions.add(rev(kv.mod_revision))
  }
  if (revisions.size > 1) return undefined
  const [at] = revisions
  return {
    ok: true,
    written: ops.flatMap((o) =>
      o.op === 'put' ? [{ key: o.key, value: o.value, modifyIndex: at! }] : [],
    ),
  }
}
