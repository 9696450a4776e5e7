// The store's incarnation: a random id at weft/v1/meta/incarnation that lives exactly as long as
// the store's data. An agent that remembers the id it last followed can tell, at a restart, a
// store that kept its data (same id: a record missing from it was deleted) from one that lost it
// or is another store (the id is missing or differs: its records may be gone, write them back).
//
// Design notes (2026-12, h46):
// - Created with cas=0 by the first agent that finds it missing, so concurrent agents agree on
//   one id (the loser reads the winner's). Every backend has that (Consul, weft's, etcd).
// - Not cluster data: `weft store export` leaves it out and `weft store import` writes a fresh
//   one, so a restore from an export is a new incarnation and agents re-announce what it lacks.
// - A value that is not an incarnation record (written by hand) proves nothing: it is replaced
//   (cas on its revision) as a new incarnation.
import { randomBytes } from 'node:crypto'
import { ROOT } from '../cluster/keys.ts'
import type { ClusterStore } from './types.ts'

export const INCARNATION_KEY = `${ROOT}meta/incarnation`

export interface IncarnationRecord {
  id: string
  /** ISO time the store's data began (for operators; the id decides). */
  created: string
}

export interface StoreIncarnation extends IncarnationRecord {
  /** This call made it: the store had none (it lost its data, or is new). */
  createdNow: boolean
}

const newIncarnation = (now: Date): IncarnationRecord => ({
  id: randomBytes(16).toString('hex'),
  created: now.toISOString(),
})

/** The record in a value; undefined for anything else. */
export function parseIncarnation(value: string): IncarnationRecord | undefined {
  try {
    const v = JSON.parse(value) as Partial<IncarnationRecord>
    if (typeof v.id === 'string' && /^[0-9a-f]{16,64}$/.test(v.id))
      return { id: v.id, created: typeof v.created === 'string' ? v.created : '' }
  } catch {
    // not JSON: not ours
  }
  return undefined
}

const MAX_TRIES = 8

/** The store's incarnation; made (cas=0) when it has none. */
export async function ensureIncarnation(
  store: ClusterStore,
  now: () => Date = () => new Date(),
): Promise<StoreIncarnation> {
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    const cur = await store.get(INCARNATION_KEY)
    const found = cur && parseIncarnation(cur.value)
    if (found) return { ...found, createdNow: false }
    const made = newIncarnation(now())
    const out = await store.txn([
      {
        op: 'put',
        key: INCARNATION_KEY,
        value: JSON.stringify(made),
        ifRevision: cur?.modifyIndex ?? 0n,
      },
    ])
    if (out.ok) return { ...made, createdNow: true }
    // another agent made it meanwhile: read theirs
  }
  throw new Error(
    `could not read or create ${INCARNATION_KEY} in ${store.address}: it changed ${MAX_TRIES} times in a row; is something rewriting it?`,
  )
}

/** Start a new incarnation (after an import: a restore is new data), replacing any. */
export async function renewIncarnation(
  store: ClusterStore,
  now: () => Date = () => new Date(),
): Promise<IncarnationRecord> {
  const made = newIncarnation(now())
  const out = await store.txn([{ op: 'put', key: INCARNATION_KEY, value: JSON.stringify(made) }])
  if (!out.ok) throw new Error(`${store.address} refused to write ${INCARNATION_KEY}`)
  return made
}
