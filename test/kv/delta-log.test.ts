// Delta reads from the log of recent changes (src/kv/server/commit-log.ts, prefix-reads.ts)
// against the walk, on a real engine and libSQL file: random histories of puts, deletes,
// multi-key writes, group commits, failed commits (rolled back) and tombstone reaps, with a
// log small enough that readers fall behind it; after every step each prefix's delta since
// every index is the same answer the walk of the store's state gives (entries, deletions,
// index, or no delta at all), and so is every prefix's index.
import { afterAll, describe, expect, test } from 'bun:test'
import { createClient } from '@libsql/client'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { compareBytes, emptyChange, KvEngine } from '../../src/kv/server/engine.ts'
import { CommitLog } from '../../src/kv/server/commit-log.ts'
import { PrefixReads } from '../../src/kv/server/prefix-reads.ts'
import { entry } from './helpers.ts'

const dir = mkdtempSync(join(tmpdir(), 'weft-delta-log-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** xorshift32: a reproducible history per seed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 2 ** 32
  }
}

const KEYS = ['a/1', 'a/2', 'a/3/x', 'a/3/y', 'ab', 'b/1', 'b/2', 'é/1', 'é/2', 'z']
const PREFIXES = ['', 'a', 'a/', 'a/3/', 'ab', 'b/', 'é/', 'z', 'nothing/']

/** The answer by definition, from the whole state (no cache, no log, no sorted arrays). */
function reference(engine: KvEngine, prefix: string, since: bigint) {
  const under = (k: string) => k.startsWith(prefix)
  const live = [...engine.entries.values()].filter((e) => under(e.key))
  const tombs = [...engine.tombstones].filter(([k]) => under(k))
  let index = engine.reapFloor
  if (prefix === '') index = engine.kvIndex
  else {
    for (const e of live) if (e.modifyIndex > index) index = e.modifyIndex
    for (const [, t] of tombs) if (t.index > index) index = t.index
  }
  if (index < 1n) index = 1n
  if (since < engine.reapFloor || since > index) return { index, delta: undefined }
  return {
    index,
    delta: {
      put: live
        .filter((e) => e.modifyIndex > since)
        .map((e) => e.key)
        .sort(compareBytes),
      deleted: tombs
        .filter(([, t]) => t.index > since)
        .map(([k]) => k)
        .sort(compareBytes),
    },
  }
}

function checkAll(engine: KvEngine, reads: PrefixReads, seen: { fromLog: number; walked: number }) {
  for (const prefix of PREFIXES) {
    expect(reads.read(prefix).index).toBe(reference(engine, prefix, 0n).index)
    for (let since = 0n; since <= engine.index + 2n; since++) {
      const want = reference(engine, prefix, since)
      const got = reads.delta(prefix, since)
      const what = `delta(${JSON.stringify(prefix)}, ${since}) at index ${engine.index}`
      if (!want.delta) {
        expect(got, what).toBeUndefined()
        continue
      }
      expect(got, what).toBeDefined()
      expect(
        { index: got!.index, put: got!.put.map((e) => e.key), deleted: got!.deleted },
        what,
      ).toEqual({ index: want.index, ...want.delta })
      // the entries are the store's own, not copies of older ones
      for (const e of got!.put) expect(e).toBe(engine.entries.get(e.key)!)
      if (since >= engine.log.floor) seen.fromLog++
      else seen.walked++
    }
  }
}

describe('delta reads from the commit log', () => {
  for (const seed of [1, 7, 2026]) {
    test(`same answers as the walk over a random history (seed ${seed})`, async () => {
      const path = join(dir, `history-${seed}.db`)
      const engine = await KvEngine.open(path, { logCapacity: 6 })
      const reads = new PrefixReads(engine)
      const other = createClient({ url: `file:${path}` })
      const random = rng(seed)
      const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!
      const seen = { fromLog: 0, walked: 0 }
      const write = (keys: string[], del: boolean) =>
        engine.write((next) => {
          const change = emptyChange()
          for (const k of keys) {
            if (!del) change.kv.set(k, entry(k, String(random()), next))
            else if (engine.entries.has(k)) change.kv.set(k, null)
          }
          return { change, result: next }
        })
      try {
        for (let step = 0; step < 60; step++) {
          const r = random()
          const keys = () => Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(KEYS))
          if (r < 0.5) await write(keys(), false)
          else if (r < 0.75) await write(keys(), true)
          else if (r < 0.85) {
            // one group commit of several writes, each with its own index
            await Promise.all([write(keys(), false), write(keys(), true), write(keys(), false)])
          } else if (r < 0.93) {
            // a failed commit: memory and the log roll back, the indexes are used again
            await other.execute('ALTER TABLE kv RENAME TO kv_moved')
            await expect(Promise.all([write(keys(), false), write(keys(), true)])).rejects.toThrow()
            await other.execute('ALTER TABLE kv_moved RENAME TO kv')
          } else await engine.reapTombstones(-1)
          checkAll(engine, reads, seen)
        }
        // both ways were taken: readers inside the log and readers behind it
        expect(seen.fromLog).toBeGreaterThan(100)
        expect(seen.walked).toBeGreaterThan(100)
      } finally {
        other.close()
        await engine.close()
      }
    })
  }

  test('a reopened store starts its log at the stored index: older readers get the walk', async () => {
    const path = join(dir, 'reopen.db')
    const first = await KvEngine.open(path)
    for (const k of ['p/a', 'p/b']) {
      await first.write((next) => {
        const change = emptyChange()
        change.kv.set(k, entry(k, 'v', next))
        return { change, result: next }
      })
    }
    await first.close()
    const engine = await KvEngine.open(path)
    try {
      expect(engine.log.floor).toBe(engine.index)
      expect(engine.log.size).toBe(0)
      const d = new PrefixReads(engine).delta('p/', 1n)
      expect(d?.put.map((e) => e.key)).toEqual(['p/b'])
    } finally {
      await engine.close()
    }
  })
})

describe('CommitLog', () => {
  test('keeps the newest records; the floor is the highest index that fell out', () => {
    const log = new CommitLog(3, 10n)
    for (const [i, k] of [
      [11n, 'a'],
      [12n, 'b'],
      [12n, 'c'],
      [13n, 'a'],
    ] as const)
      log.append(i, k)
    expect(log.floor).toBe(11n)
    expect(log.keysAfter(11n, '')).toEqual(['a', 'c', 'b'])
    expect(log.keysAfter(12n, '')).toEqual(['a'])
    expect(log.maxIndexSince(0, 'b')).toBe(12n)
  })

  test('an undo takes its records back and moves the epoch', () => {
    const log = new CommitLog(4, 0n)
    log.append(1n, 'a')
    const mark = log.seq
    log.append(2n, 'b')
    log.append(2n, 'c')
    log.truncate(mark)
    expect(log.epoch).toBe(1)
    expect(log.keysAfter(0n, '')).toEqual(['a'])
    log.append(2n, 'd')
    expect(log.keysAfter(1n, '')).toEqual(['d'])
    expect(log.holdsSince(mark)).toBe(true)
  })

  test('a capacity that is not a positive integer is refused', () => {
    expect(() => new CommitLog(0, 0n)).toThrow('positive integer')
  })
})
