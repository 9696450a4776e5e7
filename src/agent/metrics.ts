// Prometheus metrics of one agent, computed at scrape time from the datapath counters and
// the agent's own state (prom-client registry, text exposition format).
import { Counter, Gauge, Registry } from 'prom-client'
import { heapStats } from 'bun:jsc'
import { mapSyscalls } from '../bpf/index.ts'
import type { VniStats } from '../datapath/types.ts'
import type { ClusterView } from '../cluster/index.ts'
import type { StoreStatus } from '../store/index.ts'
import type { PeerReport } from '../probe/index.ts'
import type { StoreThreadMemory } from '../kv/secure/store-thread.ts'
import { CONNECT_PHASES, type ConnectTimings } from './connect-timings.ts'

export interface MetricsSources {
  stats(): Promise<VniStats[]>
  networkName(vni: number): string | undefined
  reconcile(): { passes: number; lastDurationMs: number; totalDurationMs: number }
  watchLagSeconds(): number
  storeReachable(): boolean
  endpointCounts(): { local: number; remote: number }
  /** Peers' datapaths as probes see them (src/probe). */
  peers?(): PeerReport[]
  /** Drift put back since start, by kind. */
  repairs?(): Record<string, number>
  /** Seconds the last full drift comparison took. */
  driftCompareSeconds?(): number
  /** Failed attempts of reconcile items since start, and the items failing now, by kind. */
  itemFailures?(): { totals: Record<string, number>; failing: Record<string, number> }
  /** Where local connects spent their time since start. */
  connects?(): ConnectTimings
  /** The embedded store's thread, on the host that serves it: its own JS heap. */
  storeThread?: { memory(collect?: boolean): Promise<StoreThreadMemory> }
  /** What following the cluster cost so far, by step (mirror writes, view updates, map syscalls...). */
  work?(): Record<string, number>
}

export function createMetrics(src: MetricsSources) {
  const registry = new Registry()
  const labels = ['vni', 'network'] as const
  const vniLabels = (v: VniStats) => ({ vni: String(v.vni), network: src.networkName(v.vni) ?? '' })
  // Counters are read from the kernel at scrape time: reset + inc(total) keeps them monotonic.
  const fromKernel = (name: string, help: string, pick: (v: VniStats) => bigint) =>
    new Counter({
      name,
      help,
      labelNames: labels,
      registers: [registry],
      async collect() {
        this.reset()
        for (const v of await src.stats()) this.inc(vniLabels(v), Number(pick(v)))
      },
    })
  fromKernel(
    'weft_vni_tx_packets_total',
    'Packets sent into the overlay per VNI (encapsulated or switched locally)',
    (v) => v.txPackets,
  )
  fromKernel('weft_vni_tx_bytes_total', 'Bytes sent into the overlay per VNI', (v) => v.txBytes)
  fromKernel(
    'weft_vni_rx_packets_total',
    'Packets received from the overlay per VNI',
    (v) => v.rxPackets,
  )
  fromKernel('weft_vni_rx_bytes_total', 'Bytes received from the overlay per VNI', (v) => v.rxBytes)
  new Counter({
    name: 'weft_drops_total',
    help: 'Packets dropped by the datapath, by VNI and reason',
    labelNames: ['vni', 'network', 'reason'],
    registers: [registry],
    async collect() {
      this.reset()
      for (const v of await src.stats()) {
        for (const [reason, n] of Object.entries(v.drops))
          this.inc({ ...vniLabels(v), reason }, Number(n))
      }
    },
  })
  const connects = src.connects
  if (connects) {
    new Counter({
      name: 'weft_connect_phase_seconds_total',
      help: 'Time local connects spent per phase: store write, arrival through the watch, attach',
      labelNames: ['phase'],
      registers: [registry],
      collect() {
        this.reset()
        const t = connects()
        for (const phase of CONNECT_PHASES) this.inc({ phase }, t.seconds[phase])
      },
    })
    new Counter({
      name: 'weft_connects_attached_total',
      help: 'Local connects that returned attached',
      registers: [registry],
      collect() {
        this.reset()
        this.inc(connects().completed)
      },
    })
  }
  new Counter({
    name: 'weft_reconcile_passes_total',
    help: 'Reconciler passes',
    registers: [registry],
    collect() {
      this.reset()
      this.inc(src.reconcile().passes)
    },
  })
  new Counter({
    name: 'weft_reconcile_duration_seconds_total',
    help: 'Time spent in reconciler passes',
    registers: [registry],
    collect() {
      this.reset()
      this.inc(src.reconcile().totalDurationMs / 1000)
    },
  })
  new Gauge({
    name: 'weft_reconcile_last_duration_seconds',
    help: 'Duration of the last reconciler pass',
    registers: [registry],
    collect() {
      this.set(src.reconcile().lastDurationMs / 1000)
    },
  })
  new Gauge({
    name: 'weft_watch_lag_seconds',
    help: 'Seconds since the cluster-store watch last answered',
    registers: [registry],
    collect() {
      this.set(src.watchLagSeconds())
    },
  })
  new Gauge({
    name: 'weft_store_reachable',
    help: '1 when the cluster store answers, else 0',
    registers: [registry],
    collect() {
      this.set(src.storeReachable() ? 1 : 0)
    },
  })
  new Gauge({
    name: 'weft_endpoints',
    help: 'Endpoints programmed on this node',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const c = src.endpointCounts()
      this.set({ kind: 'local' }, c.local)
      this.set({ kind: 'remote' }, c.remote)
    },
  })
  new Counter({
    name: 'weft_follow_work_total',
    help: 'Work done to follow the cluster since start, by step (watch events, mirror db transactions and rows, view updates, desired-state derivations, passes that compared every item, items compared, BPF map syscalls)',
    labelNames: ['step'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [step, n] of Object.entries(src.work?.() ?? {})) this.inc({ step }, n)
    },
  })
  peerMetrics(registry, () => src.peers?.() ?? [])
  memoryMetrics(registry)
  if (src.storeThread) storeThreadMetrics(registry, src.storeThread)
  new Counter({
    name: 'weft_repairs_total',
    help: 'Drift put back: things weft made that were changed behind its back, by kind',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [kind, n] of Object.entries(src.repairs?.() ?? {})) this.inc({ kind }, n)
    },
  })
  new Gauge({
    name: 'weft_drift_compare_seconds',
    help: 'Duration of the last full drift comparison (kernel against what was programmed, every sandbox end)',
    registers: [registry],
    collect() {
      this.set(src.driftCompareSeconds?.() ?? 0)
    },
  })
  new Counter({
    name: 'weft_reconcile_item_failures_total',
    help: 'Failed attempts to program one reconcile item, by kind',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [kind, n] of Object.entries(src.itemFailures?.().totals ?? {}))
        this.inc({ kind }, n)
    },
  })
  new Gauge({
    name: 'weft_reconcile_items_failing',
    help: 'Reconcile items failing now (each retried with a backoff), by kind',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [kind, n] of Object.entries(src.itemFailures?.().failing ?? {}))
        this.set({ kind }, n)
    },
  })
  return { text: () => registry.metrics(), registry }
}

/**
 * Where the agent's memory goes: resident set, and the JS heap (JSC) inside it. With
 * WEFT_METRICS_GC=1 each scrape first runs a full collection, so the heap figure is what is
 * live, not what awaits the collector (a measuring aid: a full GC costs milliseconds).
 */
function memoryMetrics(registry: Registry): void {
  const gcFirst = process.env.WEFT_METRICS_GC === '1'
  // one heapStats() per scrape, not one per gauge: it walks the heap (~90 ms at 3,000 endpoints
  // on a busy machine), and the gauges of one scrape are collected within a millisecond
  let stats: { at: number; value: ReturnType<typeof heapStats> } | undefined
  const heap = () => {
    const now = performance.now()
    if (!stats || now - stats.at > 1000) stats = { at: now, value: heapStats() }
    return stats.value
  }
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read())
      },
    })
  gauge('weft_process_resident_memory_bytes', 'Resident set size of the agent process', () => {
    if (gcFirst) Bun.gc(true)
    return process.memoryUsage.rss()
  })
  gauge('weft_js_heap_bytes', 'Bytes of live objects in the JS heap', () => heap().heapSize)
  gauge(
    'weft_js_heap_capacity_bytes',
    'Bytes the JS heap holds from the system (live objects and free cells)',
    () => heap().heapCapacity,
  )
  if (gcFirst)
    new Gauge({
      name: 'weft_js_objects',
      help: 'Live JS objects by type, the 15 most common (only with WEFT_METRICS_GC=1)',
      labelNames: ['type'],
      registers: [registry],
      collect() {
        this.reset()
        const counts = Object.entries(heapStats().objectTypeCounts)
        counts.sort((a, b) => b[1] - a[1])
        for (const [type, n] of counts.slice(0, 15)) this.set({ type }, n)
      },
    })
  gauge(
    'weft_js_extra_memory_bytes',
    'Bytes outside the JS heap that JS objects own (buffers, strings from native code)',
    () => heap().extraMemorySize,
  )
}

/**
 * The embedded store's thread has a JS heap of its own, outside weft_js_heap_*: its live
 * bytes, capacity and parked blocking queries, read in one message per scrape.
 */
function storeThreadMetrics(
  registry: Registry,
  thread: { memory(collect?: boolean): Promise<StoreThreadMemory> },
): void {
  const gcFirst = process.env.WEFT_METRICS_GC === '1'
  // one question per scrape: the gauges of one scrape share an answer under a second old
  let last: { at: number; answer: Promise<StoreThreadMemory> } | undefined
  const answer = () => {
    if (!last || performance.now() - last.at > 1000)
      last = { at: performance.now(), answer: thread.memory(gcFirst) }
    return last.answer
  }
  const gauge = (name: string, help: string, read: (m: StoreThreadMemory) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        this.set(read(await answer()))
      },
    })
  gauge(
    'weft_store_thread_js_heap_bytes',
    "Bytes of live objects in the embedded store thread's JS heap",
    (m) => m.heapSize,
  )
  gauge(
    'weft_store_thread_js_heap_capacity_bytes',
    "Bytes the embedded store thread's JS heap holds from the system",
    (m) => m.heapCapacity,
  )
  gauge(
    'weft_store_parked_queries',
    'Blocking queries parked on the embedded store (every host long-polls it)',
    (m) => m.waiters,
  )
  gauge(
    'weft_store_local_requests',
    "Requests the embedded store answered on its unix socket (this host's own agent, no TLS)",
    (m) => m.localRequests,
  )
}

/** Per-peer probe results: whether its datapath answers, round trip, loss, path MTU. */
function peerMetrics(registry: Registry, peers: () => PeerReport[]): void {
  const labelNames = ['peer', 'vtep'] as const
  const gauge = (name: string, help: string, pick: (p: PeerReport) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset()
        for (const p of peers()) {
          const v = pick(p)
          if (v !== undefined) this.set({ peer: p.node, vtep: p.vtep }, v)
        }
      },
    })
  gauge(
    'weft_peer_datapath_up',
    "1 while the peer's datapath answers probes (even with its agent down), 0 when it went silent",
    (p) => (p.state === 'unknown' ? undefined : p.state === 'up' ? 1 : 0),
  )
  gauge('weft_peer_rtt_seconds', 'Smoothed round trip of probes to the peer VTEP', (p) =>
    p.rttMs === undefined ? undefined : p.rttMs / 1000,
  )
  gauge(
    'weft_peer_probe_loss_ratio',
    'Share of the last 20 probes to the peer that went unanswered',
    (p) => p.loss,
  )
  gauge(
    'weft_peer_path_mtu_bytes',
    'Path MTU to the peer VTEP (IPv4 bytes) found with DF probes',
    (p) => p.pathMtu,
  )
  gauge(
    'weft_peer_path_mtu_target_bytes',
    'What the overlay needs to the peer: network MTU + VXLAN overhead',
    (p) => p.mtuTarget,
  )
  for (const [name, help, pick] of [
    ['weft_peer_probes_sent_total', 'Probes sent to the peer', (p: PeerReport) => p.sent],
    ['weft_peer_probes_answered_total', 'Probes the peer answered', (p: PeerReport) => p.answered],
  ] as const) {
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset()
        for (const p of peers()) this.inc({ peer: p.node, vtep: p.vtep }, pick(p))
      },
    })
  }
}

/** The metrics of one agent, from its units. */
export function agentMetrics(
  node: string,
  u: {
    datapath: { stats(): Promise<VniStats[]> }
    mirror: {
      view(): ClusterView
      counts?: { events: number; viewUpdates: number }
      db?: { counts: { writes: number; rows: number } }
    }
    reconciler: {
      stats: ReturnType<MetricsSources['reconcile']> & {
        derivations?: number
        kernelReads?: number
        fullPasses?: number
        itemsCompared?: number
      }
      failureTotals?(): Record<string, number>
      failures?(): { kind: string }[]
    }
    storeStatus: StoreStatus
    prober?: { reports(): PeerReport[] }
    repairs?: { totalsByKind(): Record<string, number> }
    drift?: { lastFullCompare: { ms: number } }
    connects?: ConnectTimings
    storeThread?: { memory(collect?: boolean): Promise<StoreThreadMemory> }
  },
) {
  return createMetrics({
    stats: () => u.datapath.stats(),
    networkName: (vni) => [...u.mirror.view().networks.values()].find((n) => n.vni === vni)?.name,
    reconcile: () => u.reconciler.stats,
    watchLagSeconds: () => u.storeStatus.secondsSinceAnswer(),
    storeReachable: () => u.storeStatus.reachable,
    peers: () => u.prober?.reports() ?? [],
    repairs: () => u.repairs?.totalsByKind() ?? {},
    driftCompareSeconds: () => (u.drift?.lastFullCompare.ms ?? 0) / 1000,
    ...(u.connects ? { connects: () => u.connects! } : {}),
    ...(u.storeThread ? { storeThread: u.storeThread } : {}),
    itemFailures: () => {
      const totals = u.reconciler.failureTotals?.() ?? {}
      const failing = Object.fromEntries(Object.keys(totals).map((k) => [k, 0]))
      for (const f of u.reconciler.failures?.() ?? []) failing[f.kind] = (failing[f.kind] ?? 0) + 1
      return { totals, failing }
    },
    work: () => ({
      watch_events: u.mirror.counts?.events ?? 0,
      mirror_db_writes: u.mirror.db?.counts.writes ?? 0,
      mirror_rows: u.mirror.db?.counts.rows ?? 0,
      view_updates: u.mirror.counts?.viewUpdates ?? 0,
      reconcile_passes: u.reconciler.stats.passes,
      desired_derivations: u.reconciler.stats.derivations ?? 0,
      kernel_reads: u.reconciler.stats.kernelReads ?? 0,
      full_passes: u.reconciler.stats.fullPasses ?? 0,
      items_compared: u.reconciler.stats.itemsCompared ?? 0,
      bpf_map_lookup: mapSyscalls.lookup,
      bpf_map_update: mapSyscalls.update,
      bpf_map_delete: mapSyscalls.delete,
      bpf_map_lookup_batch: mapSyscalls.lookupBatch,
      bpf_map_get_next_key: mapSyscalls.getNextKey,
    }),
    endpointCounts: () => {
      const all = [...u.mirror.view().endpoints.values()]
      const local = all.filter((e) => e.node === node).length
      return { local, remote: all.length - local }
    },
  })
}
