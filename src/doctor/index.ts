// weft doctor (issue 12 item 5) and the truthful status it shares with `node ls`: what this
// agent can say from its counters, the reconciler, the mirror and the kernel, never a guess.
export { judgeNode } from './node-state.ts'
export type { NodeJudgement, NodeState, StoreContact } from './node-state.ts'
