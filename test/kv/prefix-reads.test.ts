// List reads shared until the store changes (src/kv/server/prefix-reads.ts), on a real engine
// and libSQL file: two reads of a prefix with nothing committed between them are one answer;
// a commit, a failed commit (rolled back), a session change and a tombstone reap each make the
// next read see the store as it is, and the recurse JSON is the entries' wire form.
import { afterAll, describe, expect, test } from 'bun:test'
import { createClient } from '@libsql/client'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { emptyChange, KvEngine } from '../../src/kv/server/engine.ts'
import { entryJson, PrefixReads } from '../../src/kv/server/prefix-reads.ts'
import { entryToWire, type KvEntry } from '../../src/kv/types.ts'
import { stringifyJson } from '../../src/kv/json.ts'
import { entry, putEntry } from './helpers.ts'

const dir = mkdtempSync(join(tmpdir(), 'weft-prefix-reads-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const del = (engine: KvEngine, key: string) =>
  engine.write((next) => {
    const change = emptyChange()
    change.kv.set(key, null)
    return { change, result: next }
  })
const keys = (r: { entries: KvEntry[] }) => r.entries.map((e) => e.key)

describe('PrefixReads', () => {
  test('one answer per prefix until a change; each change is seen by the next read', async () => {
    const path = join(dir, 'reads.db')
    const engine = await KvEngine.open(path)
    const reads = new PrefixReads(engine)
    await putEntry(engine, 'n/1/a', 'x')
    const i2 = await putEntry(engine, 'n/2/a', 'y')

    const first = reads.read('n/1/')
    expect(reads.read('n/1/')).toBe(first)
    expect(keys(first)).toEqual(['n/1/a'])
    expect(first.body()).toBe(`[${stringifyJson(entryToWire(engine.entries.get('n/1/a')!))}]`)
    expect(reads.read('n/2/').index).toBe(i2)

    // a commit anywhere: the next read is fresh, and sees it
    const i3 = await putEntry(engine, 'n/1/b', 'z')
    const second = reads.read('n/1/')
    expect(second).not.toBe(first)
    expect(keys(second)).toEqual(['n/1/a', 'n/1/b'])
    expect(second.index).toBe(i3)

    // a failed commit: memory rolled back, and no read keeps what it briefly showed
    const other = createClient({ url: `file:${path}` })
    await other.execute('ALTER TABLE kv RENAME TO kv_moved')
    const lost = putEntry(engine, 'n/1/lost', 'l')
    await expect(lost).rejects.toThrow()
    await other.execute('ALTER TABLE kv_moved RENAME TO kv')
    const afterFail = reads.read('n/1/')
    expect(keys(afterFail)).toEqual(['n/1/a', 'n/1/b'])
    expect(afterFail.index).toBe(i3)
    // the index the failed commit did not use goes to the next one, which the read must see
    const i4 = await putEntry(engine, 'n/1/c', 'c')
    expect(i4).toBe(i3 + 1n)
    expect(keys(reads.read('n/1/'))).toEqual(['n/1/a', 'n/1/b', 'n/1/c'])

    // a delete leaves a tombstone: the index rises, the entry goes
    const i5 = await del(engine, 'n/1/c')
    expect(reads.read('n/1/').index).toBe(i5)
    expect(keys(reads.read('n/1/'))).toEqual(['n/1/a', 'n/1/b'])

    // a reap raises the floor: an empty prefix's index is the floor now, not its old answer
    const before = reads.read('empty/')
    expect(await engine.reapTombstones(-1)).toBe(1)
    expect(engine.reapFloor).toBe(i5)
    expect(reads.read('empty/')).not.toBe(before)
    expect(reads.read('empty/').index).toBe(i5)
    other.close()
    await engine.close()
  })
})

describe('entryJson', () => {
  test('the same text as the generic wire JSON, for every kind of entry', () => {
    const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) % 256)
    const cases: KvEntry[] = [
      entry('plain', 'v', 5n),
      { ...entry('empty value', '', 7n), value: new Uint8Array(0) },
      { ...entry('binary', '', 9n), value: bytes(1), flags: 18446744073709551615n },
      { ...entry('locked', 'x', 3n), value: bytes(188), session: 'a-session', lockIndex: 4n },
      { ...entry('odd "key"\\ é ☃ \u0001', 'x', 2n), createIndex: 1n, modifyIndex: 2n ** 60n },
      { ...entry('two', 'x', 2n), value: bytes(2) },
      { ...entry('three', 'x', 2n), value: bytes(3) },
    ]
    for (const e of cases) expect(entryJson(e)).toBe(stringifyJson(entryToWire(e)))
  })
})
