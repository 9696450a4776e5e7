// One agent's units wired as agent.ts wires them, without a kernel: the embedded KV server in
// this process, a real cluster mirror (libSQL in memory), the real reconciler on a recording
// fake datapath, and the agent service. Faults go into the store the service writes through.
import { AgentService, type Sandboxes } from '../../src/agent/index.ts'
import { ClusterOps, ROOT } from '../../src/cluster/index.ts'
import { NotFoundError } from '../../src/errors/index.ts'
import { ClusterMirror, MirrorDb, followStore } from '../../src/mirror/index.ts'
import { Reconciler } from '../../src/reconcile/index.ts'
import {
  StoreStatus,
  observeWrites,
  type ClusterStore,
  type StoreOp,
  type StoreWatch,
} from '../../src/store/index.ts'
import { AgentFakeDatapath } from './agent-datapath.ts'
import { faultyStore, startKvRig, type TxnFault } from './agent-store.ts'
import { MemoryDeltaStore } from './agent-memory-store.ts'

export const quietLog = { info() {}, warn() {}, debug() {} }

/** Sandboxes named "missing…" do not exist; the name is the key. */
export const fakeSandboxes: Sandboxes = {
  check(ref) {
    if (ref.startsWith('missing'))
      throw new NotFoundError(`sandbox ${ref} not found`, 'sandbox_not_found')
  },
  key: (ref) => ref,
}

export interface ServiceRig {
  /** The real store behind the faults: what the cluster holds. */
  store: ClusterStore
  service: AgentService
  datapath: AgentFakeDatapath
  mirror: ClusterMirror
  reconciler: Reconciler
  status: StoreStatus
  faults: ReturnType<typeof faultyStore>
  ops: ClusterOps
  close(): Promise<void>
}

export async function startServiceRig(
  o: {
    node?: string
    plan?: (ops: StoreOp[], n: number) => TxnFault
    before?: (ops: StoreOp[], n: number) => Promise<void>
    attachTimeoutMs?: number
    undoBudgetMs?: number
    /** consul: the embedded KV server (snapshots); memory: an etcd-shaped store (deltas). */
    backing?: 'consul' | 'memory'
  } = {},
): Promise<ServiceRig> {
  const node = o.node ?? 'n1'
  const backing = o.backing === 'memory' ? memoryBacking() : await startKvRig()
  const faults = faultyStore(backing.store, (ops, n) => o.plan?.(ops, n) ?? 'pass', o.before)
  const db = await MirrorDb.open(':memory:')
  const mirror = new ClusterMirror(db)
  const datapath = new AgentFakeDatapath()
  const reconciler = new Reconciler({
    datapath,
    node,
    view: () => mirror.view(),
    resyncMs: 60_000,
    onDetached: (h) => db.deleteLocalEndpoint(h),
    onAttached: (spec, r) =>
      db.setLocalEndpoint({
        endpointId: spec.id,
        hostIfname: spec.hostIfname,
        ifindex: 'ifindex' in r ? r.ifindex : null,
        status: 'ifindex' in r ? 'attached' : 'failed',
        error: 'error' in r ? r.error : null,
      }),
  })
  reconciler.start()
  const off = mirror.onChange(() => reconciler.trigger())
  const status = new StoreStatus()
  const ops = new ClusterOps(
    observeWrites(faults.store, (w) => mirror.ownWrites(w)),
    1450,
    mirror,
  )
  const watch: StoreWatch = followStore(backing.store, ROOT, mirror, status)
  const service = new AgentService({
    node,
    datapathKind: 'bpf',
    ops,
    mirror,
    reconciler,
    localFacts: () => db.localEndpoints(),
    stats: () => datapath.stats(),
    metrics: async () => '# none\n',
    storeStatus: status,
    registered: () => true,
    sandboxes: fakeSandboxes,
    log: quietLog,
    attachTimeoutMs: o.attachTimeoutMs ?? 3000,
    undoBudgetMs: o.undoBudgetMs ?? 1000,
  })
  return {
    store: backing.store,
    service,
    datapath,
    mirror,
    reconciler,
    status,
    faults,
    ops,
    async close() {
      await service.close()
      watch.stop()
      await watch.done
      off()
      await reconciler.stop()
      db.close()
      await backing.cleanup()
    },
  }
}

function memoryBacking() {
  const store = new MemoryDeltaStore()
  return { store, cleanup: async () => store.close() }
}
