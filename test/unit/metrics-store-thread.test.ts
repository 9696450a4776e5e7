// The embedded store's thread reaches /metrics on the host that serves it: its own JS heap
// (outside weft_js_heap_*) and the blocking queries parked on it, asked once per scrape; a host
// without the store exports none of it.
import { expect, test } from 'bun:test'
import { agentMetrics } from '../../src/agent/metrics.ts'
import { clusterView } from '../../src/cluster/index.ts'
import { StoreStatus } from '../../src/store/index.ts'
import type { StoreThreadMemory } from '../../src/kv/secure/store-thread.ts'

const units = () => ({
  datapath: { stats: async () => [] },
  mirror: { view: () => clusterView([]) },
  reconciler: { stats: { passes: 0, lastDurationMs: 0, totalDurationMs: 0 } },
  storeStatus: new StoreStatus(),
})

test("the store thread's heap and parked queries, one question per scrape", async () => {
  let asked = 0
  const memory: StoreThreadMemory = {
    heapSize: 12_000_000,
    heapCapacity: 18_000_000,
    extraMemorySize: 0,
    waiters: 309,
    keys: 6000,
    localRequests: 42,
    objects: [],
  }
  const m = agentMetrics('h1', {
    ...units(),
    storeThread: { memory: async () => (asked++, memory) },
  })
  const text = await m.text()
  expect(text).toContain('weft_store_thread_js_heap_bytes 12000000')
  expect(text).toContain('weft_store_thread_js_heap_capacity_bytes 18000000')
  expect(text).toContain('weft_store_parked_queries 309')
  expect(text).toContain('weft_store_local_requests 42')
  expect(asked).toBe(1)
})

test('a host that does not serve the store exports no store-thread gauges', async () => {
  const text = await agentMetrics('h2', units()).text()
  expect(text).not.toContain('weft_store_thread_js_heap_bytes')
  expect(text).not.toContain('weft_store_parked_queries')
})
