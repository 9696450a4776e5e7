// The doctor's readings, taken from the agent's own units (the wiring hands them over).
import type { ClusterView } from '../cluster/index.ts'
import type { ActualState, VniStats } from '../datapath/types.ts'
import type { PeerReport } from '../probe/index.ts'
import type { ItemFailure, PeerLiveness } from '../reconcile/index.ts'
import { Doctor, type DoctorSources } from './doctor.ts'

/** The slices of the agent's units the doctor reads. */
export interface AgentUnits {
  node: string
  mirror: { view(): ClusterView }
  storeStatus: {
    reachable: boolean
    lastError?: string
    lastAnswerAt: number
    unreachableSince: number
  }
  /** Where the store is, in words ("consul://10.0.0.1:8500", "embedded on this host"). */
  storeAddress: string
  registered(): boolean
  reconciler: { failures(): ItemFailure[]; settled(): Promise<void> }
  /** The drift guard in front of the datapath. */
  datapath: {
    kind?: 'bpf' | 'kernel'
    inner: { actual(): Promise<ActualState> }
    stats(): Promise<VniStats[]>
    unrepaired(): { kind: string; detail: string; since: number }[]
  }
  localFacts(): Promise<{ endpointId: string; status: string; error: string | null }[]>
  /** The peer prober: its reports, and the judgement the reconciler derives the desired state with. */
  prober?: PeerLiveness & { reports(): PeerReport[] }
}

/** How long the doctor waits for a reconcile pass before comparing anyway. */
const SETTLE_MS = 5000

export function agentDoctor(u: AgentUnits): Doctor {
  const sources: DoctorSources = {
    node: u.node,
    view: () => u.mirror.view(),
    store: () => ({
      reachable: u.storeStatus.reachable,
      lastAnswerAt: u.storeStatus.lastAnswerAt,
      unreachableSince: u.storeStatus.unreachableSince,
      ...(u.storeStatus.lastError ? { lastError: u.storeStatus.lastError } : {}),
      address: u.storeAddress,
    }),
    registered: () => u.registered(),
    failures: () => u.reconciler.failures(),
    unrepaired: () => u.datapath.unrepaired(),
    actual: () => u.datapath.inner.actual(),
    stats: () => u.datapath.stats(),
    localFacts: () => u.localFacts(),
    ...(u.datapath.kind && { datapathKind: u.datapath.kind }),
    ...(u.prober && { peers: () => u.prober!.reports(), liveness: u.prober }),
    settle: () =>
      new Promise<void>((resolve) => {
        const t = setTimeout(resolve, SETTLE_MS)
        void u.reconciler.settled().then(() => (clearTimeout(t), resolve()))
      }),
  }
  return new Doctor(sources)
}
