// What the engine persists (src/kv/server/persist-sql.ts: a group of commits as a few
// JSON-carrying statements), read back by reopening the real libSQL file: each key's last
// change in a group wins (put then delete leaves a tombstone, delete then put a live entry),
// u64 flags and indexes above 2^63 and binary values survive exactly, sessions and the meta
// indexes too; and a group of any size is a fixed handful of statements.
import { afterAll, describe, expect, test } from 'bun:test'
import { heapStats } from 'bun:jsc'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { emptyChange, KvEngine, type Change } from '../../src/kv/server/engine.ts'
import { persistStatements } from '../../src/kv/server/persist-sql.ts'
import type { KvEntry, SessionInfo } from '../../src/kv/types.ts'
import { U64_MAX } from '../../src/kv/u64.ts'

const dir = mkdtempSync(join(tmpdir(), 'weft-persist-sql-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const entry = (key: string, value: Uint8Array, next: bigint, extra: Partial<KvEntry> = {}) => ({
  key,
  value,
  flags: 0n,
  lockIndex: 0n,
  createIndex: next,
  modifyIndex: next,
  ...extra,
})
const utf8 = (s: string) => new TextEncoder().encode(s)

function session(id: string, next: bigint): SessionInfo {
  return {
    id,
    name: 'n',
    node: 'h1',
    lockDelayNs: 15_000_000_000n,
    behavior: 'delete',
    ttl: '10s',
    nodeChecks: [],
    serviceChecks: [],
    createIndex: next,
    modifyIndex: next,
  }
}

/** One write of the current turn (they share a SQL transaction: group commit). */
const write = (engine: KvEngine, fill: (c: Change, next: bigint) => void) =>
  engine.write((next) => {
    const change = emptyChange()
    fill(change, next)
    return { change, result: next }
  })

describe('persistStatements', () => {
  test('a group: each key and session ends as its last change said, exact u64 and bytes', async () => {
    const path = join(dir, 'group.db')
    const engine = await KvEngine.open(path)
    const binary = new Uint8Array([0, 255, 1, 128, 10, 13])
    const [a, b, c, d] = await Promise.all([
      write(engine, (ch, n) => {
        ch.kv.set('k/put-then-delete', entry('k/put-then-delete', utf8('x'), n))
        ch.kv.set('k/delete-then-put', null)
        ch.kv.set('k/binary', entry('k/binary', binary, n, { flags: U64_MAX }))
        ch.kv.set('k/empty', entry('k/empty', new Uint8Array(0), n, { lockIndex: 1n << 63n }))
        ch.sessionsPut.push(session('s-kept', n), session('s-gone', n))
      }),
      write(engine, (ch, n) => {
        ch.kv.set('k/put-then-delete', null)
        ch.kv.set('k/delete-then-put', entry('k/delete-then-put', utf8('back'), n))
        ch.sessionsDelete.push('s-gone')
      }),
      write(engine, (ch, n) => {
        ch.kv.set('k/binary', entry('k/binary', binary.subarray(1, 3), n, { flags: U64_MAX }))
      }),
      write(engine, (ch, n) => ch.sessionsPut.push(session('s-late', n))),
    ])
    expect(engine.commits).toBe(1)
    await engine.close()

    const re = await KvEngine.open(path)
    expect(re.index).toBe(d)
    expect(re.kvIndex).toBe(c)
    expect(re.sessionsIndex).toBe(d)
    expect(re.entries.has('k/put-then-delete')).toBe(false)
    expect(re.tombstones.get('k/put-then-delete')?.index).toBe(b)
    expect(new TextDecoder().decode(re.entries.get('k/delete-then-put')!.value)).toBe('back')
    expect(re.entries.get('k/delete-then-put')!.modifyIndex).toBe(b)
    expect(re.tombstones.has('k/delete-then-put')).toBe(false)
    const bin = re.entries.get('k/binary')!
    expect([...bin.value]).toEqual([255, 1])
    expect(bin.flags).toBe(U64_MAX)
    expect(bin.modifyIndex).toBe(c)
    const empty = re.entries.get('k/empty')!
    expect(empty.value.length).toBe(0)
    expect(empty.lockIndex).toBe(1n << 63n)
    expect(empty.createIndex).toBe(a)
    expect([...re.sessions.keys()].sort()).toEqual(['s-kept', 's-late'])
    expect(re.sessions.get('s-kept')!.lockDelayNs).toBe(15_000_000_000n)
    await re.close()
  })

  test('statements per group do not grow with its rows', () => {
    const commits = Array.from({ length: 500 }, (_, i) => {
      const next = BigInt(i + 1)
      const change = emptyChange()
      change.kv.set(`k/${i}`, entry(`k/${i}`, utf8('v'), next))
      change.kv.set(`gone/${i}`, null)
      return { next, change }
    })
    // puts, their tombstones cleared, deletes, their tombstones, meta
    expect(persistStatements(commits, Date.now()).length).toBe(5)
  })

  test("persisting leaves each value's bytes in the JS heap (no ArrayBuffer of its own)", () => {
    // reading `.buffer` of a small typed array gives it an ArrayBuffer for good: ~1 kB more
    // resident per stored key on the store host (bench/results/rss-cap-2026-12-01.md)
    const values = Array.from({ length: 1000 }, (_, i) => new Uint8Array(300).fill(i & 0xff))
    const change = emptyChange()
    values.forEach((v, i) => change.kv.set(`k/${i}`, entry(`k/${i}`, v, 1n)))
    const arrayBuffers = () => heapStats().objectTypeCounts.ArrayBuffer ?? 0
    const before = arrayBuffers()
    const stmts = persistStatements([{ next: 1n, change }], Date.now())
    expect(arrayBuffers() - before).toBeLessThan(10)
    // and the hex the statement carries is still each value's bytes
    const rows = JSON.parse(String(stmts[0]!.args![0])) as string[][]
    expect(rows[7]![1]).toBe('07'.repeat(300))
  })

  test("only revived keys' tombstones are deleted; a put back after a delete leaves none", async () => {
    const put = (key: string, next: bigint, revived?: string[]) => {
      const change = emptyChange()
      change.kv.set(key, entry(key, utf8('v'), next))
      return { next, change, revived }
    }
    // fresh keys: puts and meta only (the untomb statement found nothing, every group)
    expect(persistStatements([put('k/a', 1n, []), put('k/b', 2n, [])], 0).length).toBe(2)
    const some = persistStatements([put('k/a', 1n, []), put('k/b', 2n, ['k/b'])], 0)
    expect(some.length).toBe(3)
    expect(some[1]!.args).toEqual([JSON.stringify(['k/b'])])
    // a commit that does not say: every put key's tombstone, as before
    expect(persistStatements([put('k/a', 1n, []), put('k/b', 2n)], 0)[1]!.args).toEqual([
      JSON.stringify(['k/a', 'k/b']),
    ])

    const path = join(dir, 'revived.db')
    const engine = await KvEngine.open(path)
    await write(engine, (ch, n) => ch.kv.set('r/x', entry('r/x', utf8('1'), n)))
    await write(engine, (ch) => ch.kv.set('r/x', null))
    expect(engine.tombstones.has('r/x')).toBe(true)
    await write(engine, (ch, n) => ch.kv.set('r/x', entry('r/x', utf8('2'), n)))
    await engine.close()
    const re = await KvEngine.open(path)
    expect(re.tombstones.has('r/x')).toBe(false)
    expect(new TextDecoder().decode(re.entries.get('r/x')!.value)).toBe('2')
    await re.close()
  })
})
