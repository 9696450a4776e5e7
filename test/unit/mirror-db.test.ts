// The mirror db (a real libSQL file): own writes are visible at once and stay
// until a snapshot at or past their index shows what the store holds; prefix reads follow
// snapshots and own writes.
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MirrorDb, type MirrorChange, type MirrorEntry } from '../../src/mirror/index.ts'

const dir = mkdtempSync(join(tmpdir(), 'weft-mirror-db-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const e = (key: string, value: string, modifyIndex: bigint): MirrorEntry => ({
  key,
  value,
  modifyIndex,
})
const keys = (m: { key: string }[]) => m.map((x) => x.key).sort()

describe('MirrorDb', () => {
  test('an own write shows at once; an older snapshot without it keeps it; a newer one decides', async () => {
    const store = await MirrorDb.open(join(dir, 'own.db'))
    await store.applySnapshot([e('t/net/a', 'A', 5n)], 5n)
    expect(store.applyOwnWrite([e('t/ep/1', 'one', 7n), e('t/ep/2', 'two', 7n)])).toBe(true)
    expect(keys(store.list('t/ep/'))).toEqual(['t/ep/1', 't/ep/2'])
    expect(store.entries().get('t/ep/1')?.value).toBe('one')
    // a snapshot taken before the write (index 6) does not know it: the write stays
    await store.applySnapshot([e('t/net/a', 'A', 5n), e('t/net/b', 'B', 6n)], 6n)
    expect(keys(store.list('t/ep/'))).toEqual(['t/ep/1', 't/ep/2'])
    // a snapshot at index 9 has ep/1 and not ep/2 (disconnected meanwhile): the store wins
    await store.applySnapshot(
      [e('t/net/a', 'A', 5n), e('t/net/b', 'B', 6n), e('t/ep/1', 'one', 7n)],
      9n,
    )
    expect(keys(store.list('t/ep/'))).toEqual(['t/ep/1'])
    expect(keys(store.list('t/'))).toEqual(['t/ep/1', 't/net/a', 't/net/b'])
    // a write a snapshot already covered is not re-added
    expect(store.applyOwnWrite([e('t/ep/2', 'two', 7n)])).toBe(false)
    expect(store.entries().has('t/ep/2')).toBe(false)
    await store.close()
  })

  test('prefix reads follow keys that snapshots add and remove; the mirror survives a reopen', async () => {
    const path = join(dir, 'dirs.db')
    const store = await MirrorDb.open(path)
    await store.applySnapshot(
      [
        e('w/ipam/n1/10.0.0.2', 'x', 1n),
        e('w/ipam/n1/10.0.0.3', 'y', 2n),
        e('w/ipam/n2/10.0.1.2', 'z', 3n),
      ],
      3n,
    )
    expect(keys(store.list('w/ipam/n1/'))).toEqual(['w/ipam/n1/10.0.0.2', 'w/ipam/n1/10.0.0.3'])
    await store.applySnapshot(
      [e('w/ipam/n1/10.0.0.3', 'y', 2n), e('w/ipam/n2/10.0.1.2', 'z', 3n)],
      4n,
    )
    expect(keys(store.list('w/ipam/n1/'))).toEqual(['w/ipam/n1/10.0.0.3'])
    expect(keys(store.list('w/ipam/'))).toEqual(['w/ipam/n1/10.0.0.3', 'w/ipam/n2/10.0.1.2'])
    expect(keys(store.list('w/ipam/n1/10.0.0'))).toEqual(['w/ipam/n1/10.0.0.3'])
    await store.close()
    const again = await MirrorDb.open(path)
    expect(keys(again.list('w/ipam/n2/'))).toEqual(['w/ipam/n2/10.0.1.2'])
    expect(again.list('w/ipam/n3/')).toEqual([])
    await again.close()
  })

  test('a delta writes its puts and deletions, settles own writes it covers, and survives a reopen', async () => {
    const path = join(dir, 'delta.db')
    const store = await MirrorDb.open(path)
    expect(await store.applyDelta([e('d/a', 'A', 1n), e('d/b', 'B', 2n)], [], 2n)).toBe(true)
    store.applyOwnWrite([e('d/c', 'C', 4n)])
    // a delta at 3 predates the own write: it stays
    expect(await store.applyDelta([e('d/a', 'A2', 3n)], ['d/b'], 3n)).toBe(true)
    expect(keys(store.list('d/'))).toEqual(['d/a', 'd/c'])
    expect(store.entries().get('d/a')?.value).toBe('A2')
    // a delta at 5 that deletes d/c (disconnected meanwhile): the store wins
    expect(await store.applyDelta([], ['d/c'], 5n)).toBe(true)
    expect(keys(store.list('d/'))).toEqual(['d/a'])
    // deleting an absent key and re-putting an unchanged one change nothing
    expect(await store.applyDelta([e('d/a', 'A2', 3n)], ['d/zz'], 6n)).toBe(false)
    store.close()
    const again = await MirrorDb.open(path)
    expect(keys(again.list('d/'))).toEqual(['d/a'])
    again.close()
  })

  test('a late delta never takes a key back: an older put and a deletion before a newer write are skipped', async () => {
    // two watches may cover one key (a network's own and the wide one, while handing over), and
    // a delta is not sent again: one that arrives after a newer snapshot must not undo it
    const store = await MirrorDb.open(':memory:')
    await store.applySnapshot([e('h/a', 'A9', 9n), e('h/b', 'B9', 9n)], 9n, 'h/')
    expect(await store.applyDelta([e('h/a', 'A7', 7n)], ['h/b'], 8n, 'h/')).toBe(false)
    expect(store.entries().get('h/a')?.value).toBe('A9')
    expect(store.entries().get('h/b')?.value).toBe('B9')
    // a newer put and a deletion at or after the key's write still apply
    expect(await store.applyDelta([e('h/a', 'A10', 10n)], ['h/b'], 10n, 'h/')).toBe(true)
    expect(store.entries().get('h/a')?.value).toBe('A10')
    expect(store.entries().has('h/b')).toBe(false)
    store.close()
  })

  test('each call reports how the tree changed, and rows written as one JSON statement survive a reopen byte for byte', async () => {
    const path = join(dir, 'change.db')
    const store = await MirrorDb.open(path)
    const odd = 'q"uo\\te\n\u00e9\u{1F600}'
    const change = (): MirrorChange => ({ put: [], deleted: [] })
    let c = change()
    await store.applySnapshot([e('c/a', odd, 1n), e('c/b', 'B', 1n)], 1n, 'c/', c)
    expect(keys(c.put)).toEqual(['c/a', 'c/b'])
    // the same snapshot again: nothing changed, nothing reported
    c = change()
    expect(await store.applySnapshot([e('c/a', odd, 1n), e('c/b', 'B', 1n)], 2n, 'c/', c)).toBe(
      false,
    )
    expect(c).toEqual({ put: [], deleted: [] })
    // an own write, then the snapshot that confirms it: in the tree once, at the write
    c = change()
    store.applyOwnWrite([e('c/c', 'C', 5n)], c)
    expect(keys(c.put)).toEqual(['c/c'])
    c = change()
    await store.applySnapshot([e('c/a', odd, 1n), e('c/c', 'C', 5n)], 5n, 'c/', c)
    expect(c).toEqual({ put: [], deleted: ['c/b'] })
    c = change()
    await store.forget((k) => k === 'c/c', c)
    expect(c).toEqual({ put: [], deleted: ['c/c'] })
    store.close()
    const again = await MirrorDb.open(path)
    expect(again.list('c/')).toEqual([e('c/a', odd, 1n)])
    again.close()
  })
  test('a prefix read walks the directories below it, also once deep ones empty and fill again', async () => {
    const store = await MirrorDb.open(':memory:')
    await store.applySnapshot(
      [e('w/a/b/c/1', '1', 1n), e('w/a/b/2', '2', 1n), e('w/x/3', '3', 1n), e('top', 't', 1n)],
      1n,
    )
    expect(keys(store.list('w/'))).toEqual(['w/a/b/2', 'w/a/b/c/1', 'w/x/3'])
    expect(keys(store.list('w/a/'))).toEqual(['w/a/b/2', 'w/a/b/c/1'])
    // the deepest directory empties, then the whole w/a/ branch does: reads below stay right
    await store.applySnapshot([e('w/a/b/2', '2', 1n), e('w/x/3', '3', 1n), e('top', 't', 1n)], 2n)
    expect(keys(store.list('w/a/'))).toEqual(['w/a/b/2'])
    expect(keys(store.list('w/a/b/c/'))).toEqual([])
    await store.applySnapshot([e('w/x/3', '3', 1n), e('top', 't', 1n)], 3n)
    expect(keys(store.list('w/a/'))).toEqual([])
    expect(keys(store.list('w/'))).toEqual(['w/x/3'])
    // and fills again, three levels down at once
    await store.applyDelta([e('w/a/b/c/d/4', '4', 4n)], [], 4n)
    expect(keys(store.list('w/'))).toEqual(['w/a/b/c/d/4', 'w/x/3'])
    expect(keys(store.list('w/a/b/'))).toEqual(['w/a/b/c/d/4'])
    // a snapshot of one prefix removes only what is below that prefix
    await store.applySnapshot([], 5n, 'w/a/')
    expect(keys(store.list('w/'))).toEqual(['w/x/3'])
    expect(store.entries().has('top')).toBe(true)
    store.close()
  })

  test('an own write is settled by the snapshot of the longest followed prefix that covers it', async () => {
    const store = await MirrorDb.open(':memory:')
    await store.applySnapshot([], 10n, 'w/')
    await store.applySnapshot([], 3n, 'w/ep/n1/')
    // w/ep/n1/ was last seen at 3: a write at 5 is newer, though the w/ snapshot was at 10
    expect(store.applyOwnWrite([e('w/ep/n1/a', 'A', 5n)])).toBe(true)
    // w/ep/n2/ is covered by w/ at 10 only: a write at 5 is older than what that snapshot showed
    expect(store.applyOwnWrite([e('w/ep/n2/b', 'B', 5n)])).toBe(false)
    store.close()
  })
})
