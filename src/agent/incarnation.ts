// Whether a (re)registered agent writes back its endpoints: only when the store may have lost
// them. The agent remembers, in its local state beside the mirror, the incarnation id of the
// store it followed (src/store/incarnation.ts). At each registration:
// - same id: the store kept its data, so a record of this node it lacks was deleted (a disconnect
//   or `network rm -f` through another host while this agent was down). Nothing is written back;
//   the follower then drops the endpoint from the view, and the reconciler unprograms it.
// - another id, or the store had none: it lost its data (or is another store): re-announce, as a
//   live restore after a store loss needs, then remember the new id.
// - nothing remembered (a first start, or a state from before incarnations): re-announce; with
//   an empty local state there is nothing to write back.
// - same id, but at this process's first registration the store's revision now (the node record
//   it just wrote) is not past the highest one the last run's mirror holds: the store went back in time (restored from a
//   copy of its own files or a snapshot, which keep the id) and may lack newer records:
//   re-announce. Revisions only grow on a store that keeps its data, so this never fires there.
//   A restore that moves the revision past what the agent saw (etcd's --bump-revision, a Consul
//   snapshot restore) is not seen: after one, delete the incarnation key (or restore with
//   `weft store import`) so agents re-announce.
// The id is remembered only after the re-announce went through: an agent that dies in between
// re-announces again at its next start.
import type { ClusterStore } from '../store/index.ts'
import { StoreUnreachableError } from '../errors/index.ts'
import { ensureIncarnation, type StoreIncarnation } from '../store/incarnation.ts'
import type { Logger } from '../log.ts'

/** The host fact (state.db meta) holding the id. */
export const STORE_INCARNATION_FACT = 'store_incarnation'

/** Where the agent keeps the id between runs (its state.db). */
export interface IncarnationMemory {
  remembered(): Promise<string | undefined>
  remember(id: string): Promise<void>
}

export type ReannounceDecision =
  | { reannounce: false; why: 'store kept its data' }
  | {
      reannounce: true
      why:
        | 'nothing remembered'
        | 'the store had no incarnation'
        | 'another store incarnation'
        | 'the store went back in time'
    }

/** Store revisions: the highest the local mirror holds, and the store's now (undefined: unknown). */
export interface Revisions {
  seen: bigint
  now: bigint | undefined
}

/** The decision alone (pure): `remembered` is the id this agent last followed. */
export function decideReannounce(
  remembered: string | undefined,
  store: Pick<StoreIncarnation, 'id' | 'createdNow'>,
  revisions: Revisions = { seen: 0n, now: undefined },
): ReannounceDecision {
  if (remembered === undefined) return { reannounce: true, why: 'nothing remembered' }
  if (store.createdNow) return { reannounce: true, why: 'the store had no incarnation' }
  if (store.id !== remembered) return { reannounce: true, why: 'another store incarnation' }
  if (revisions.now !== undefined && revisions.now <= revisions.seen)
    return { reannounce: true, why: 'the store went back in time' }
  return { reannounce: false, why: 'store kept its data' }
}

export interface ReannounceIfLostDeps {
  store: ClusterStore
  memory: IncarnationMemory
  /** Write back this node's endpoints the store lacks (AgentService.reannounce); how many. */
  reannounce(): Promise<number>
  /**
   * The highest store revision the last run's mirror holds (0n: it holds nothing); undefined
   * once this process followed the store (its mirror then holds writes newer than the claim).
   */
  seenRevision: bigint | undefined
  /** This node's record, just claimed by the registration: its revision is the store's now. */
  nodeKey: string
  log: Logger
}

/** Run at every registration, before the follower starts. */
export async function reannounceIfStoreLost(
  d: ReannounceIfLostDeps,
): Promise<{ decision: ReannounceDecision; incarnation: string; written: number }> {
  const seen = d.seenRevision
  const incarnation = await ensureIncarnation(d.store)
  const remembered = await d.memory.remembered()
  const now = seen === undefined ? undefined : (await d.store.get(d.nodeKey))?.modifyIndex
  // without the claim's revision a store gone back in time would pass for one that kept its
  // data, and its gaps would be read as deletions: let the registration try again instead
  if (seen !== undefined && now === undefined)
    throw new StoreUnreachableError(
      `${d.nodeKey} was gone right after this agent claimed it (its session expired?): registering again`,
      { code: 'node_record_gone' },
    )
  const decision = decideReannounce(remembered, incarnation, { seen: seen ?? 0n, now })
  if (!decision.reannounce) {
    d.log.debug(
      { incarnation: incarnation.id },
      'the store kept its data: endpoints it lacks were removed, not written back',
    )
    return { decision, incarnation: incarnation.id, written: 0 }
  }
  const written = await d.reannounce()
  if (remembered !== undefined)
    d.log.warn(
      {
        remembered,
        incarnation: incarnation.id,
        created: incarnation.created,
        revisions: { seen: String(seen), now: String(now) },
        written,
      },
      `${decision.why}: wrote back this node's endpoints it lacked`,
    )
  await d.memory.remember(incarnation.id)
  return { decision, incarnation: incarnation.id, written }
}

/** The highest revision among entries (0n for none). */
export function highestRevision(entries: Iterable<{ modifyIndex: bigint }>): bigint {
  let max = 0n
  for (const e of entries) if (e.modifyIndex > max) max = e.modifyIndex
  return max
}
