// What this agent can truthfully say about a node's liveness (pure). A node is alive while its
// session-held record exists in the store; this agent sees the store through its mirror, which
// is only as fresh as its last contact. While the store does not answer, the mirror cannot
// tell a live node from a dead one (the store host itself may be the one that is down), so
// every node is Unknown, with the mirror's last word and how old it is.

export type NodeState = 'Ready' | 'Down' | 'Unknown'

export interface StoreContact {
  reachable: boolean
  /** Epoch ms of the store's last answer; 0 when it never answered since this agent started. */
  lastAnswerAt: number
  /** Epoch ms since when it does not answer (first failure after the last answer); 0 while it answers. */
  unreachableSince: number
}

export interface NodeJudgement {
  state: NodeState
  /** Why Unknown or Down, in words. */
  reason?: string
}

const ago = (ms: number) =>
  ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`

/** The state of a node whose record the mirror holds (`alive`) or not, given the store's contact. */
export function judgeNode(alive: boolean, store: StoreContact, now = Date.now()): NodeJudgement {
  if (store.reachable)
    return alive
      ? { state: 'Ready' }
      : {
          state: 'Down',
          reason: 'no live record in the store (its session expired or it deregistered)',
        }
  const down = store.unreachableSince
    ? `the store has not answered for ${ago(now - store.unreachableSince)}`
    : 'the store has not answered since this agent started'
  const last = store.lastAnswerAt
    ? `; it was ${alive ? 'alive' : 'down'} at the last contact, ${ago(now - store.lastAnswerAt)} ago`
    : ''
  return { state: 'Unknown', reason: `${down}${last}` }
}
