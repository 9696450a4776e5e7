// Drift repair (issue 12 item 3): anything weft made that is changed behind its back is seen
// (rtnetlink notifications, a periodic full comparison) and put back by the reconciler's usual
// idempotent calls; repairs are counted by kind and logged.
// Kept private on purpose: the rtnetlink client (./rtnl.ts, ./rtnl-decode.ts) and kernel reads.
import type { Datapath } from '../datapath/types.ts'
import { DriftGuard, type DriftGuardOptions } from './guard.ts'
import { DriftListener } from './listener.ts'
import { RepairBook } from './repairs.ts'

export { DriftGuard, FILTER_BACKSTOP_SHARES } from './guard.ts'
export type { DriftGuardOptions } from './guard.ts'
export { DriftListener, isDriftEvent, isForeignFilter } from './listener.ts'
export type { DriftListenerOptions } from './listener.ts'
export { RepairBook, REPAIR_KINDS } from './repairs.ts'
export type { Repair, RepairKind } from './repairs.ts'
export { ENDPOINT_PROGRAM } from './kernel-reads.ts'

export interface Drift {
  /** The datapath to hand the reconciler: the real one behind the guard. */
  datapath: DriftGuard
  repairs: RepairBook
  /** Start listening and comparing; `compare` asks the reconciler for a pass that re-reads the kernel. */
  listen(compare: () => void, opts?: { underlayIfindex?: number; periodMs?: number }): void
  stop(): void
}

/** Put a drift guard in front of `datapath`. Nothing listens until `listen()`. */
export function createDrift(datapath: Datapath, opts: Omit<DriftGuardOptions, 'repairs'>): Drift {
  const repairs = new RepairBook()
  const guard = new DriftGuard(datapath, { ...opts, repairs })
  let listener: DriftListener | undefined
  return {
    datapath: guard,
    repairs,
    listen(compare, o = {}) {
      guard.askCompare = compare
      listener = new DriftListener({ guard, compare, log: opts.log, ...o })
      listener.start()
    },
    stop() {
      guard.askCompare = undefined
      listener?.stop()
      listener = undefined
    },
  }
}
