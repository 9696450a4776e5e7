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
