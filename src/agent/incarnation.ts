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
// The id is remembered only after the re-announce went through: an agent that dies in between
// re-announces again at its next start.
import type { ClusterStore } from '../store/index.ts'
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
      why: 'nothing remembered' | 'the store had no incarnation' | 'another store incarnation'
    }

/** The decision alone (pure): `remembered` is the id this agent last followed. */
export function decideReannounce(
  remembered: string | undefined,
  store: Pick<StoreIncarnation, 'id' | 'createdNow'>,
): ReannounceDecision {
  if (remembered === undefined) return { reannounce: true, why: 'nothing remembered' }
  if (store.createdNow) return { reannounce: true, why: 'the store had no incarnation' }
  if (store.id !== remembered) return { reannounce: true, why: 'another store incarnation' }
  return { reannounce: false, why: 'store kept its data' }
}

export interface ReannounceIfLostDeps {
  store: ClusterStore
  memory: IncarnationMemory
  /** Write back this node's endpoints the store lacks (AgentService.reannounce); how many. */
  reannounce(): Promise<number>
  log: Logger
}

/** Run at every registration, before the follower starts. */
export async function reannounceIfStoreLost(
  d: ReannounceIfLostDeps,
): Promise<{ decision: ReannounceDecision; incarnation: string; written: number }> {
  const incarnation = await ensureIncarnation(d.store)
  const remembered = await d.memory.remembered()
  const decision = decideReannounce(remembered, incarnation)
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
      { remembered, incarnation: incarnation.id, created: incarnation.created, written },
      `${decision.why} (the store lost its data or is another store): wrote back this node's endpoints it lacked`,
    )
  await d.memory.remember(incarnation.id)
  return { decision, incarnation: incarnation.id, written }
}
