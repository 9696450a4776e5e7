// bench/heap-census.ts: the dominator tree names what holds a heap, and what a Map holds
// (entries JSC's snapshot gives no edge) is counted by its shape instead of being lost.
import { expect, test } from 'bun:test'
import { census, stringCopies } from '../../bench/heap-census.ts'

class CensusProbeHolder {
  rows: { probeA: string; probeB: number[] }[] = []
  byKey = new Map<string, { probeC: string }>()
}

test('a held array of objects is one subtree, named by the field holding it', () => {
  const holder = new CensusProbeHolder()
  for (let i = 0; i < 2000; i++) holder.rows.push({ probeA: `row-${i}-`.repeat(4), probeB: [i] })
  for (let i = 0; i < 500; i++) holder.byKey.set(`key-${i}`, { probeC: `value-${i}` })
  ;(globalThis as Record<string, unknown>).censusProbe = holder
  Bun.gc(true)
  const c = census(JSON.parse(Bun.generateHeapSnapshot('v8')), 20 * 1024, 20)
  delete (globalThis as Record<string, unknown>).censusProbe
  const rows = c.tree.find((t) => t.via.endsWith('.rows') && t.via.includes('CensusProbeHolder'))
  expect(rows).toBeDefined()
  // 2,000 objects, each with a string and an array: well over 2,000 × 3 cells
  expect(rows!.objects).toBeGreaterThan(6000)
  expect(rows!.retainedBytes).toBeGreaterThan(2000 * 50)
  // the Map's values have no edge from the Map: counted by their shape
  const values = c.unreached.find((u) => u.what.includes('{probeC}'))
  expect(values?.count).toBe(500)
})

test('strings equal to another cell are counted as copies', () => {
  const snapshot = {
    snapshot: {
      meta: {
        node_fields: [
          'type',
          'name',
          'id',
          'self_size',
          'edge_count',
          'trace_node_id',
          'detachedness',
        ],
        node_types: [['hidden', 'array', 'string']],
        edge_fields: ['type', 'name_or_index', 'to_node'],
        edge_types: [['context', 'element', 'property', 'internal', 'hidden', 'shortcut', 'weak']],
      },
    },
    // three string cells: two hold the same id
    nodes: [2, 0, 1, 40, 0, 0, 0, 2, 0, 2, 40, 0, 0, 0, 2, 1, 3, 30, 0, 0, 0],
    edges: [],
    strings: ['0123456789abcdef', 'net-7'],
  }
  const p = stringCopies(snapshot as never)
  expect(p.find((x) => x.pattern === 'H')).toEqual({ pattern: 'H', cells: 2, copies: 1, bytes: 80 })
  expect(p.find((x) => x.pattern === 'net-N')).toEqual({
    pattern: 'net-N',
    cells: 1,
    copies: 0,
    bytes: 30,
  })
})
