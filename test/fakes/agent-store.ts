// The agent's unit rig for the cluster store: weft's embedded KV server in this process (real
// HTTP, real libSQL, no root) behind a ConsulStore, and a decorator that injects faults into
// chosen calls of a real store (the store stays real; only its answers are lost or refused).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serveKv, type ServedKv } from '../../src/kv/index.ts'
import { OutcomeUnknownError, StoreUnreachableError } from '../../src/errors/index.ts'
import {
  ConsulStore,
  type ClusterStore,
  type StoreOp,
  type TxnOutcome,
} from '../../src/store/index.ts'

export interface KvRig {
  kv: ServedKv
  store: ConsulStore
  cleanup(): Promise<void>
}

export async function startKvRig(): Promise<KvRig> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-unit-kv-'))
  const kv = await serveKv({
    dbPath: join(dir, 'kv.db'),
    nodeName: 'unit',
    advertise: '127.0.0.1:8300',
    hostname: '127.0.0.1',
    port: 0,
    sessionTtlMinMs: 200,
  })
  const store = ConsulStore.connect(
    { address: kv.url, retries: 0, timeoutMs: 3000 },
    { watchWaitMs: 2000 },
  )
  // A fresh embedded server answers an empty tree with index 1 and gives its first write index 1
  // too, so a watch that saw the empty tree would not see that write as new. A real cluster has
  // written long before an agent starts (the node records): so has this one.
  await store.txn([{ op: 'put', key: 'unit/seed', value: '' }])
  return {
    kv,
    store,
    async cleanup() {
      await kv.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** How one txn call goes: normally, refused before reaching the store, or applied with its answer lost. */
export type TxnFault = 'pass' | 'unreachable' | 'lost-answer'

/**
 * A real store whose txn calls follow `plan(ops, n)` (n counts txn calls from 0), and whose
 * reads fail while `readsDown` is set.
 */
export function faultyStore(
  store: ClusterStore,
  plan: (ops: StoreOp[], n: number) => TxnFault,
  /** Runs before txn call n reaches the store (e.g. another agent's write that makes it lose a race). */
  before?: (ops: StoreOp[], n: number) => Promise<void>,
) {
  let n = 0
  const state = {
    readsDown: false,
    txns: [] as { ops: StoreOp[]; fault: TxnFault; ok?: boolean }[],
  }
  const down = () =>
    new StoreUnreachableError(
      `store unreachable at ${store.address}: injected fault; writes fail until it is back`,
    )
  const wrapped: ClusterStore = {
    get address() {
      return store.address
    },
    leases: store.leases,
    async get(key) {
      if (state.readsDown) throw down()
      return store.get(key)
    },
    async list(prefix) {
      if (state.readsDown) throw down()
      return store.list(prefix)
    },
    watch: (prefix, onEvent, h) => store.watch(prefix, onEvent, h),
    async txn(ops): Promise<TxnOutcome> {
      const i = n++
      await before?.(ops, i)
      const fault = plan(ops, i)
      const rec: (typeof state.txns)[number] = { ops, fault }
      state.txns.push(rec)
      if (fault === 'unreachable')
        throw new OutcomeUnknownError(
          `${down().message}; the write may or may not have been applied`,
        )
      const out = await store.txn(ops)
      rec.ok = out.ok
      if (fault === 'lost-answer')
        throw new OutcomeUnknownError(
          `${down().message}; the write may or may not have been applied`,
        )
      return out
    },
  }
  return { store: wrapped, state }
}
