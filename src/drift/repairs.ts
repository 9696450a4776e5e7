// The record of drift put back: what weft made that was changed behind its back, by kind.
// A drift is "found" when a comparison sees it and "repaired" when the operation that puts it
// back succeeds; counters by kind are monotonic (weft_repairs_total{kind}), and the last
// repairs are kept for `weft doctor`.

/** What was changed behind weft's back. */
export type RepairKind =
  | 'veth' // an endpoint's host veth (and with it the sandbox end) deleted
  | 'tc-filter' // the endpoint program's filter removed from a host veth
  | 'underlay-link' // the underlay program's tcx link detached
  | 'pin' // a map or link pin removed from bpffs
  | 'map-entry' // a BPF map entry deleted or altered
  | 'sandbox-address' // the endpoint's address removed inside its sandbox
  | 'sandbox-route' // the connected subnet route removed inside the sandbox
  | 'sandbox-link' // the sandbox end set down
  | 'fdb' // a kernel-datapath FDB entry removed
  | 'neighbour' // a kernel-datapath neighbour entry removed
  | 'network-device' // a kernel-datapath bridge or vxlan device removed or changed
  | 'gro' // the wfgro device removed

export const REPAIR_KINDS: readonly RepairKind[] = [
  'veth',
  'tc-filter',
  'underlay-link',
  'pin',
  'map-entry',
  'sandbox-address',
  'sandbox-route',
  'sandbox-link',
  'fdb',
  'neighbour',
  'network-device',
  'gro',
]

/** One repair, as the log and `weft doctor` tell it. */
export interface Repair {
  kind: RepairKind
  /** What was wrong, in words. */
  detail: string
  /** When the drift was seen and when it was put back (epoch ms). */
  foundAt: number
  repairedAt: number
}

export class RepairBook {
  private readonly totals = Object.fromEntries(REPAIR_KINDS.map((k) => [k, 0])) as Record<
    RepairKind,
    number
  >
  private readonly recent: Repair[] = []

  constructor(private readonly keep = 50) {}

  record(r: Repair): void {
    this.totals[r.kind]++
    this.recent.push(r)
    if (this.recent.length > this.keep) this.recent.shift()
  }

  /** Repairs since start, by kind (monotonic). */
  totalsByKind(): Record<RepairKind, number> {
    return { ...this.totals }
  }

  /** The last repairs, oldest first. */
  last(): Repair[] {
    return [...this.recent]
  }
}
