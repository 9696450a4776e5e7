// The KV store's write path against a real libSQL file: group commit (the writes of one
// event-loop turn share one SQL transaction but each gets its own index and sees the ones
// before it), a failing write failing alone, and a failed commit rolling memory back.
import { afterAll, describe, expect, test } from 'bun:test'
import { createClient } from '@libsql/client'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { emptyChange, KvStore, type CommitEvent } from '../../src/kv/server/store.ts'
import type { KvEntry } from '../../src/kv/types.ts'

const dir = mkdtempSync(join(tmpdir(), 'weft-kvstore-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const entry = (key: string, value: string, next: bigint): KvEntry => ({
  key, value: new TextEncoder().encode(value), flags: 0n, lockIndex: 0n, createIndex: next, modifyIndex: next,
})
const text = (e: KvEntry | undefined) => (e ? new TextDecoder().decode(e.value) : undefined)

/** A write that sets `key` to the current value of `counter` + 1 and bumps `counter`. */
function bump(store: KvStore, key: string) {
  return store.write((next) => {
    const n = Number(text(store.entries.get('counter')) ?? '0') + 1
    const change = emptyChange()
    change.kv.set('counter', entry('counter', String(n), next))
    change.kv.set(key, entry(key, String(n), next))
    return { change, result: { next, n } }
  })
}

describe('KvStore write path', () => {
  test('writes of one turn: one SQL commit, consecutive indexes, each sees the ones before, all durable', async () => {
    const path = join(dir, 'group.db')
    const store = await KvStore.open(path)
    const events: CommitEvent[] = []
    store.onCommit((e) => events.push(e))
    const commits0 = store.commits
    const index0 = store.index
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => bump(store, `k/${i}`)))
    expect(store.commits - commits0).toBe(1)
    expect(results.map((r) => r.next)).toEqual(Array.from({ length: 20 }, (_, i) => index0 + 1n + BigInt(i)))
    expect(results.map((r) => r.n)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
    expect(events.map((e) => e.index)).toEqual(results.map((r) => r.next))
    await store.close()
    const reopened = await KvStore.open(path)
    expect(reopened.index).toBe(index0 + 20n)
    expect(text(reopened.entries.get('counter'))).toBe('20')
    expect(reopened.list('k/').length).toBe(20)
    await reopened.close()
  })

  test('a write whose mutator throws fails alone; the rest of its turn commits', async () => {
    const store = await KvStore.open(join(dir, 'throws.db'))
    const bad = store.write(() => {
      throw new Error('bad op')
    })
    const [a, b] = await Promise.all([bump(store, 'x/a'), bump(store, 'x/b'), bad.catch((e: Error) => e.message)])
    expect(await bad.catch((e: Error) => e.message)).toBe('bad op')
    expect([a.n, b.n]).toEqual([1, 2])
    expect(store.list('x/').map((e) => e.key)).toEqual(['x/a', 'x/b'])
    await store.close()
  })

  test('a failed commit rolls memory back: no index used, no entry visible, nobody woken', async () => {
    const path = join(dir, 'rollback.db')
    const store = await KvStore.open(path)
    await bump(store, 'r/kept')
    const before = { index: store.index, kvIndex: store.kvIndex, keys: [...store.entries.keys()].sort() }
    const events: CommitEvent[] = []
    store.onCommit((e) => events.push(e))
    // break the table under the store, from another connection: the next commit fails
    const other = createClient({ url: `file:${path}` })
    await other.execute('ALTER TABLE kv RENAME TO kv_moved')
    const failed = await Promise.allSettled([bump(store, 'r/lost1'), bump(store, 'r/lost2')])
    expect(failed.map((f) => f.status)).toEqual(['rejected', 'rejected'])
    expect({ index: store.index, kvIndex: store.kvIndex, keys: [...store.entries.keys()].sort() }).toEqual(before)
    expect(store.list('r/').map((e) => e.key)).toEqual(['r/kept'])
    expect(text(store.entries.get('counter'))).toBe('1')
    expect(events).toEqual([])
    // and the store carries on once the table is back
    await other.execute('ALTER TABLE kv_moved RENAME TO kv')
    other.close()
    expect((await bump(store, 'r/after')).next).toBe(before.index + 1n)
    await store.close()
  })
})
