// The reconciler's public surface: the level-triggered loop, the pure desired-state
// derivation, and the per-item failure records it exposes to /healthz and /metrics.
export { Reconciler } from './reconciler.ts'
export type { ReconcilerDeps, ReconcileStats } from './reconciler.ts'
export { desiredState } from './desired.ts'
export type { DesiredOptions, DesiredState, PeerLiveness } from './desired.ts'
export { remoteKey } from './items.ts'
export { ITEM_KINDS } from './failures.ts'
export type { ItemFailure, ItemKind, ItemOp } from './failures.ts'
