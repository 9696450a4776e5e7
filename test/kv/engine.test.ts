// The KV engine's write path against a real libSQL file: group commit (the writes of one
// event-loop turn share one SQL transaction but each gets its own index and sees the ones
// before it), a failing write failing alone, and a failed commit rolling memory back.
import { afterAll, describe, expect, test } from 'bun:test'
import { createClient } from '@libsql/client'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { emptyChange, KvEngine, type CommitEvent } from '../../src/kv/server/engine.ts'
import type { KvEntry } from '../../src/kv/types.ts'
import { entry } from './helpers.ts'

const dir = mkdtempSync(join(tmpdir(), 'weft-kvengine-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const text = (e: KvEntry | undefined) => (e ? new TextDecoder().decode(e.value) : undefined)

/** A write that sets `key` to the current value of `counter` + 1 and bumps `counter`. */
function bump(engine: KvEngine, key: string) {
  return engine.write((next) => {
    const n = Number(text(engine.entries.get('counter')) ?? '0') + 1
    const change = emptyChange()
    change.kv.set('counter', entry('counter', String(n), next))
    change.kv.set(key, entry(key, String(n), next))
    return { change, result: { next, n } }
  })
}

describe('KvEngine write path', () => {
  test('writes of one turn: one SQL commit, consecutive indexes, each sees the ones before, all durable', async () => {
    const path = join(dir, 'group.db')
    const engine = await KvEngine.open(path)
    const events: CommitEvent[] = []
    engine.onCommit((e) => events.push(e))
    const commits0 = engine.commits
    const index0 = engine.index
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => bump(engine, `k/${i}`)))
    expect(engine.commits - commits0).toBe(1)
    expect(results.map((r) => r.next)).toEqual(
      Array.from({ length: 20 }, (_, i) => index0 + 1n + BigInt(i)),
    )
    expect(results.map((r) => r.n)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
    expect(events.map((e) => e.index)).toEqual(results.map((r) => r.next))
    await engine.close()
    const reopened = await KvEngine.open(path)
    expect(reopened.index).toBe(index0 + 20n)
    expect(text(reopened.entries.get('counter'))).toBe('20')
    expect(reopened.list('k/').length).toBe(20)
    await reopened.close()
  })

  test('a write whose mutator throws fails alone; the rest of its turn commits', async () => {
    const engine = await KvEngine.open(join(dir, 'throws.db'))
    const bad = engine.write(() => {
      throw new Error('bad op')
    })
    const [a, b] = await Promise.all([
      bump(engine, 'x/a'),
      bump(engine, 'x/b'),
      bad.catch((e: Error) => e.message),
    ])
    expect(await bad.catch((e: Error) => e.message)).toBe('bad op')
    expect([a.n, b.n]).toEqual([1, 2])
    expect(engine.list('x/').map((e) => e.key)).toEqual(['x/a', 'x/b'])
    await engine.close()
  })

  test('a failed commit rolls memory back: no index used, no entry visible, nobody woken', async () => {
    const path = join(dir, 'rollback.db')
    const engine = await KvEngine.open(path)
    await bump(engine, 'r/kept')
    const before = {
      index: engine.index,
      kvIndex: engine.kvIndex,
      keys: [...engine.entries.keys()].sort(),
    }
    const events: CommitEvent[] = []
    engine.onCommit((e) => events.push(e))
    // break the table under the engine, from another connection: the next commit fails
    const other = createClient({ url: `file:${path}` })
    await other.execute('ALTER TABLE kv RENAME TO kv_moved')
    const failed = await Promise.allSettled([bump(engine, 'r/lost1'), bump(engine, 'r/lost2')])
    expect(failed.map((f) => f.status)).toEqual(['rejected', 'rejected'])
    expect({
      index: engine.index,
      kvIndex: engine.kvIndex,
      keys: [...engine.entries.keys()].sort(),
    }).toEqual(before)
    expect(engine.list('r/').map((e) => e.key)).toEqual(['r/kept'])
    expect(text(engine.entries.get('counter'))).toBe('1')
    expect(events).toEqual([])
    // and the engine carries on once the table is back
    await other.execute('ALTER TABLE kv_moved RENAME TO kv')
    other.close()
    expect((await bump(engine, 'r/after')).next).toBe(before.index + 1n)
    await engine.close()
  })

  test("a prefix's index counts the tombstones under it only: after deletes, a rolled-back delete, a reap and a reopen", async () => {
    const path = join(dir, 'tombstones.db')
    const engine = await KvEngine.open(path)
    const del = (key: string) =>
      engine.write((next) => {
        const change = emptyChange()
        change.kv.set(key, null)
        return { change, result: next }
      })
    await bump(engine, 'a/1')
    await bump(engine, 'b/1')
    const aLive = engine.prefixIndex('a/')
    const gone = await del('b/1') // a tombstone under b/ only
    expect(engine.prefixIndex('b/')).toBe(gone)
    expect(engine.prefixIndex('a/')).toBe(aLive)
    await bump(engine, 'b/1') // put back: its tombstone goes, the entry's index counts
    const back = engine.prefixIndex('b/')
    expect(back).toBeGreaterThan(gone)
    // a delete whose commit fails leaves no tombstone behind
    const other = createClient({ url: `file:${path}` })
    await other.execute('ALTER TABLE tombstones RENAME TO t_moved')
    expect(
      await del('b/1').then(
        () => 'ok',
        () => 'failed',
      ),
    ).toBe('failed')
    await other.execute('ALTER TABLE t_moved RENAME TO tombstones')
    other.close()
    expect(engine.prefixIndex('b/')).toBe(back)
    const gone2 = await del('a/1')
    expect(engine.prefixIndex('a/')).toBe(gone2)
    expect(engine.prefixIndex('b/')).toBe(back)
    await engine.close()
    // reopened: the tombstones are read back in order
    const reopened = await KvEngine.open(path)
    expect(reopened.prefixIndex('a/')).toBe(gone2)
    expect(reopened.prefixIndex('b/')).toBe(back)
    // reaped: the floor keeps every prefix's index from going backwards
    expect(await reopened.reapTombstones(-1)).toBe(1)
    expect(reopened.tombstones.size).toBe(0)
    expect(reopened.prefixIndex('a/')).toBe(gone2)
    await reopened.close()
  })
})
