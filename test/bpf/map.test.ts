// Typed map handles and test-run against the real kernel (no namespaces needed): flags,
// "absent" as a value, batch and fallback iteration, per-CPU layout, map-full errors.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import {
  Errno,
  PerCpuMap,
  TypedMap,
  UpdateFlag,
  getSys,
  openObject,
  struct,
  sumCounters,
  sumU64,
  testRun,
  u32,
  u64,
  type LoadedObject,
  type Sys,
} from '../../src/bpf/index.ts'
import { requireRoot, testObjectBytes } from './fixture.ts'

requireRoot()

const counters = struct<{ packets: bigint; bytes: bigint }>(16, {
  packets: { offset: 0, codec: u64 },
  bytes: { offset: 8, codec: u64 },
})

let obj: LoadedObject
beforeAll(() => {
  obj = openObject(testObjectBytes('count'), { name: 'count' }).load()
})
afterAll(() => obj?.close())

/**
 * The real Sys with counted batch / get_next_key calls; with `batch: false`, batch lookups
 * answer ENOTSUPP like a kernel without them.
 */
function countingSys(opts: { batch: boolean }) {
  const real = getSys()
  const calls = { batch: 0, nextKey: 0 }
  const sys: Sys = {
    ...real,
    mapLookupBatch: (...args) => (
      calls.batch++,
      opts.batch ? real.mapLookupBatch(...args) : -Errno.ENOTSUPP
    ),
    mapGetNextKey: (...args) => (calls.nextKey++, real.mapGetNextKey(...args)),
  }
  return { sys, calls }
}

describe('TypedMap on a hash map', () => {
  test('absent keys are values, not exceptions', () => {
    const m = new TypedMap(obj.map('wt_scratch'), u32, u64)
    expect(m.lookup(12345)).toBeUndefined()
    expect(m.delete(12345)).toBe(false)
  })

  test('update honours ANY / NOEXIST / EXIST', () => {
    const m = new TypedMap(obj.map('wt_scratch'), u32, u64)
    expect(m.update(1, 10n, UpdateFlag.EXIST)).toBe(false)
    expect(m.lookup(1)).toBeUndefined()
    expect(m.update(1, 10n, UpdateFlag.NOEXIST)).toBe(true)
    expect(m.update(1, 11n, UpdateFlag.NOEXIST)).toBe(false)
    expect(m.lookup(1)).toBe(10n)
    expect(m.update(1, 12n, UpdateFlag.EXIST)).toBe(true)
    expect(m.update(1, 13n)).toBe(true)
    expect(m.lookup(1)).toBe(13n)
    expect(m.delete(1)).toBe(true)
    expect(m.lookup(1)).toBeUndefined()
  })

  test('entries() reads everything, batched and through the get_next_key fallback alike', () => {
    const batched = countingSys({ batch: true })
    const m = new TypedMap(obj.map('wt_scratch'), u32, u64, batched.sys)
    for (let i = 0; i < 50; i++) m.update(1000 + i, BigInt(i * i))
    const expected: [number, bigint][] = Array.from({ length: 50 }, (_, i) => [
      1000 + i,
      BigInt(i * i),
    ])
    const byKey = (a: [number, bigint][]) => a.sort((x, y) => x[0] - y[0])
    expect(byKey(m.entries())).toEqual(expected)
    expect(batched.calls).toEqual({ batch: 1, nextKey: 0 }) // one syscall for 50 entries

    const fallback = countingSys({ batch: false })
    const f = new TypedMap(obj.map('wt_scratch'), u32, u64, fallback.sys)
    expect(byKey(f.entries())).toEqual(expected)
    expect(fallback.calls).toEqual({ batch: 1, nextKey: 51 }) // probed once ...
    f.entries()
    expect(fallback.calls.batch).toBe(1) // ... then remembered
    for (const k of m.keys()) m.delete(k)
    expect(m.entries()).toEqual([])
  })

  test('entries() walks a map larger than one batch', () => {
    const o = openObject(testObjectBytes('count'), { name: 'count' })
      .setMaxEntries('wt_scratch', 4096)
      .load()
    try {
      const { sys, calls } = countingSys({ batch: true })
      const m = new TypedMap(o.map('wt_scratch'), u32, u64, sys)
      for (let i = 0; i < 3000; i++) m.update(i, BigInt(i))
      const all = m.entries()
      expect(all).toHaveLength(3000)
      expect(new Set(all.map(([k]) => k)).size).toBe(3000)
      expect(all.every(([k, v]) => BigInt(k) === v)).toBe(true)
      expect(calls.batch).toBeGreaterThan(1)
    } finally {
      o.close()
    }
  })

  test('a full map says so', () => {
    const m = new TypedMap(obj.map('wt_scratch'), u32, u64)
    for (let i = 0; i < 64; i++) m.update(i, 0n)
    expect(() => m.update(64, 0n)).toThrow(
      /update map wt_scratch: E2BIG.*map is full \(max_entries 64\)/,
    )
    for (let i = 0; i < 64; i++) m.delete(i)
  })

  test('setMaxEntries before load changes the kernel map', () => {
    const o = openObject(testObjectBytes('count'), { name: 'count' })
      .setMaxEntries('wt_scratch', 1024)
      .load()
    try {
      expect(o.map('wt_scratch').maxEntries).toBe(1024)
    } finally {
      o.close()
    }
  })
})

describe('PerCpuMap', () => {
  test('values are one per possible CPU and sum field by field', () => {
    const m = new PerCpuMap(obj.map('wt_counts'), u32, counters)
    expect(m.cpus).toBe(getSys().numPossibleCpus())
    const perCpu = Array.from({ length: m.cpus }, (_, i) => ({
      packets: BigInt(i + 1),
      bytes: BigInt(100 * (i + 1)),
    }))
    m.update(0, perCpu)
    expect(m.lookup(0)).toEqual(perCpu)
    const n = BigInt(m.cpus)
    expect(sumCounters(m.lookup(0) ?? [])).toEqual({
      packets: (n * (n + 1n)) / 2n,
      bytes: (100n * n * (n + 1n)) / 2n,
    })
    expect(sumU64((m.lookup(0) ?? []).map((c) => c.packets))).toBe((n * (n + 1n)) / 2n)
    m.update(0, { all: { packets: 0n, bytes: 0n } })
    expect(m.entries()).toEqual([[0, perCpu.map(() => ({ packets: 0n, bytes: 0n }))]])
  })
})

describe('testRun', () => {
  test('runs the counting program on a frame: TC_ACT_OK, packet unchanged, counted `repeat` times', () => {
    const m = new PerCpuMap(obj.map('wt_counts'), u32, counters)
    m.update(0, { all: { packets: 0n, bytes: 0n } })
    const frame = new Uint8Array(64).map((_, i) => i)
    frame.set([0x08, 0x00], 12) // ethertype IPv4
    const r = testRun(obj.program('count_pkts'), frame, { repeat: 100 })
    expect(r.retval).toBe(0) // TC_ACT_OK
    expect(r.output).toEqual(frame)
    expect(r.durationNs).toBeGreaterThan(0)
    expect(sumCounters(m.lookup(0) ?? [])).toEqual({ packets: 100n, bytes: 6400n })
  })

  test('.rodata configuration set before load changes what the program does', () => {
    const spec = openObject(testObjectBytes('count'), { name: 'count' })
    const rodata = spec.initialValue('.rodata')
    expect(rodata).toEqual(new Uint8Array([0, 0, 0, 0])) // wt_verdict = TC_ACT_OK
    new DataView(rodata.buffer).setUint32(0, 2, true) // TC_ACT_SHOT
    const o = spec.setInitialValue('.rodata', rodata).load()
    try {
      expect(testRun(o.program('count_pkts'), new Uint8Array(64)).retval).toBe(2)
    } finally {
      o.close()
    }
    const unloaded = openObject(testObjectBytes('count'))
    try {
      expect(() => unloaded.setInitialValue('.rodata', new Uint8Array(8))).toThrow(
        /got 8 bytes, the section has 4/,
      )
    } finally {
      unloaded.close()
    }
  })
})
