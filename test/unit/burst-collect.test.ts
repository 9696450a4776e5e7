// The burst collector: one collection once a burst of mirror writes has gone quiet, none for a
// trickle, none while the writes go on.
import { describe, expect, test } from 'bun:test'
import { BurstCollector } from '../../src/mirror/burst-collect.ts'
import { waitFor } from '../harness/wait.ts'

describe('BurstCollector', () => {
  test('a burst collects once, after the quiet time, not during the writes', async () => {
    let collected = 0
    const c = new BurstCollector({ minRows: 10, quietMs: 150, collect: () => collected++ })
    const t0 = performance.now()
    let lastWrite = t0
    for (let i = 0; i < 6; i++) {
      c.changed(5) // 30 rows, a write every 50 ms: never quiet for 150 ms
      lastWrite = performance.now()
      await Bun.sleep(50) // pacing the writes, not synchronisation
      expect(collected).toBe(0)
    }
    await waitFor(() => collected === 1, { what: 'the collection', timeoutMs: 5000 })
    expect(performance.now() - lastWrite).toBeGreaterThanOrEqual(140)
    c.stop()
  })

  test('fewer rows than a burst never collect; stop() cancels a pending one', async () => {
    let collected = 0
    const c = new BurstCollector({ minRows: 10, quietMs: 20, collect: () => collected++ })
    c.changed(9)
    const d = new BurstCollector({ minRows: 10, quietMs: 20, collect: () => collected++ })
    d.changed(10)
    d.stop()
    await Bun.sleep(200) // a window in which nothing may happen, not synchronisation
    expect(collected).toBe(0)
    c.stop()
  })

  test('the rows count again from zero after a collection', async () => {
    let collected = 0
    const c = new BurstCollector({ minRows: 10, quietMs: 20, collect: () => collected++ })
    c.changed(10)
    await waitFor(() => collected === 1, { what: 'the first collection', timeoutMs: 5000 })
    c.changed(9)
    await Bun.sleep(200) // a window in which nothing may happen, not synchronisation
    expect(collected).toBe(1)
    c.stop()
  })
})
