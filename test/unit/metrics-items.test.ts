// The reconciler's per-item failures reach /metrics: a counter of failed attempts and a gauge of
// the items failing now, by kind, every kind present from the start (at 0).
import { expect, test } from 'bun:test'
import { agentMetrics } from '../../src/agent/metrics.ts'
import { clusterView } from '../../src/cluster/index.ts'
import { StoreStatus } from '../../src/store/index.ts'

test('reconcile item failures are exported by kind, the failing ones as a gauge', async () => {
  const m = agentMetrics('h1', {
    datapath: { stats: async () => [] },
    mirror: { view: () => clusterView([]) },
    reconciler: {
      stats: { passes: 3, lastDurationMs: 1, totalDurationMs: 3 },
      failureTotals: () => ({ network: 0, 'local-endpoint': 5, 'remote-endpoint': 1, members: 0 }),
      failures: () => [{ kind: 'local-endpoint' }, { kind: 'local-endpoint' }],
    },
    storeStatus: new StoreStatus(),
  })
  const text = await m.text()
  expect(text).toContain('weft_reconcile_item_failures_total{kind="local-endpoint"} 5')
  expect(text).toContain('weft_reconcile_item_failures_total{kind="network"} 0')
  expect(text).toContain('weft_reconcile_items_failing{kind="local-endpoint"} 2')
  expect(text).toContain('weft_reconcile_items_failing{kind="remote-endpoint"} 0')
})

test('the work of following the cluster is exported by step', async () => {
  const m = agentMetrics('h1', {
    datapath: { stats: async () => [] },
    mirror: {
      view: () => clusterView([]),
      counts: { events: 7, viewUpdates: 5 },
      db: { counts: { writes: 6, rows: 40 } },
    },
    reconciler: {
      stats: {
        passes: 3,
        lastDurationMs: 1,
        totalDurationMs: 3,
        derivations: 2,
        kernelReads: 1,
        fullPasses: 1,
        itemsCompared: 90,
      },
    },
    storeStatus: new StoreStatus(),
  })
  const text = await m.text()
  for (const [step, n] of [
    ['watch_events', 7],
    ['mirror_db_writes', 6],
    ['mirror_rows', 40],
    ['view_updates', 5],
    ['reconcile_passes', 3],
    ['desired_derivations', 2],
    ['kernel_reads', 1],
    ['full_passes', 1],
    ['items_compared', 90],
  ] as const)
    expect(text).toContain(`weft_follow_work_total{step="${step}"} ${n}`)
  expect(text).toMatch(/^weft_follow_work_total\{step="bpf_map_update"\} \d+$/m)
})
