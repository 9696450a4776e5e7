// The contract every cluster store passes (Consul today, etcd later): consistent reads,
// all-or-nothing transactions with compare-and-set, leases that take their keys with them,
// and a watch whose snapshots or deltas rebuild the prefix. Run it with `runClusterStoreContract`.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { ClusterStore, StoreEntry, WatchEvent } from '../../src/store/index.ts'
import {
  INCARNATION_KEY,
  ensureIncarnation,
  parseIncarnation,
  renewIncarnation,
} from '../../src/store/incarnation.ts'

export interface StoreUnderTest {
  store: ClusterStore
  cleanup(): Promise<void>
}

/** Poll until `cond` holds (never a bare sleep). */
async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await Bun.sleep(10)
  }
}

export function runClusterStoreContract(name: string, create: () => Promise<StoreUnderTest>): void {
  describe(`cluster store contract: ${name}`, () => {
    let t: StoreUnderTest
    let s: ClusterStore
    let run = 0
    const p = () => `contract/${run}/`
    beforeAll(async () => {
      t = await create()
      s = t.store
    })
    afterAll(() => t.cleanup())

    test('reads: an absent key is undefined, an empty prefix is []', async () => {
      run++
      expect(await s.get(`${p()}nope`)).toBeUndefined()
      expect(await s.list(p())).toEqual([])
    })

    test('put with ifRevision 0 creates once; the second loses and names its op', async () => {
      run++
      const a = await s.txn([{ op: 'put', key: `${p()}a`, value: 'one', ifRevision: 0n }])
      expect(a.ok).toBe(true)
      if (!a.ok) return
      expect(a.written).toHaveLength(1)
      const got = await s.get(`${p()}a`)
      expect(got?.value).toBe('one')
      expect(a.written[0]).toEqual(got!)
      const b = await s.txn([
        { op: 'put', key: `${p()}b`, value: 'x' },
        { op: 'put', key: `${p()}a`, value: 'two', ifRevision: 0n },
      ])
      expect(b).toEqual({ ok: false, failed: [1] })
      // all or nothing: the first op of the failed transaction did not happen either
      expect(await s.get(`${p()}b`)).toBeUndefined()
      expect((await s.get(`${p()}a`))?.value).toBe('one')
    })

    test('compare-and-set on a revision: the current one wins, a stale one loses', async () => {
      run++
      const first = await s.txn([{ op: 'put', key: `${p()}k`, value: 'v1', ifRevision: 0n }])
      if (!first.ok) throw new Error('create failed')
      const rev = first.written[0]!.modifyIndex
      const second = await s.txn([{ op: 'put', key: `${p()}k`, value: 'v2', ifRevision: rev }])
      expect(second.ok).toBe(true)
      expect(await s.txn([{ op: 'put', key: `${p()}k`, value: 'v3', ifRevision: rev }])).toEqual({
        ok: false,
        failed: [0],
      })
      expect(await s.txn([{ op: 'delete', key: `${p()}k`, ifRevision: rev }])).toEqual({
        ok: false,
        failed: [0],
      })
      expect((await s.get(`${p()}k`))?.value).toBe('v2')
    })

    test('check conditions guard the writes beside them', async () => {
      run++
      const made = await s.txn([{ op: 'put', key: `${p()}guard`, value: 'g' }])
      if (!made.ok) throw new Error('put failed')
      const rev = made.written[0]!.modifyIndex
      const stale = await s.txn([
        { op: 'check', key: `${p()}guard`, revision: rev + 1000n },
        { op: 'put', key: `${p()}w`, value: 'w' },
      ])
      expect(stale).toEqual({ ok: false, failed: [0] })
      const absent = await s.txn([
        { op: 'check', key: `${p()}guard`, revision: 0n },
        { op: 'put', key: `${p()}w`, value: 'w' },
      ])
      expect(absent).toEqual({ ok: false, failed: [0] })
      expect(await s.get(`${p()}w`)).toBeUndefined()
      const ok = await s.txn([
        { op: 'check', key: `${p()}guard`, revision: rev },
        { op: 'check', key: `${p()}none`, revision: 0n },
        { op: 'put', key: `${p()}w`, value: 'w' },
      ])
      expect(ok.ok).toBe(true)
      expect((await s.get(`${p()}w`))?.value).toBe('w')
    })

    test('delete and delete-prefix remove keys; list is sorted and consistent', async () => {
      run++
      await s.txn([
        { op: 'put', key: `${p()}t/b`, value: '2' },
        { op: 'put', key: `${p()}t/a`, value: '1' },
        { op: 'put', key: `${p()}t/c/d`, value: '3' },
        { op: 'put', key: `${p()}u`, value: '4' },
      ])
      expect((await s.list(`${p()}t/`)).map((e) => e.key)).toEqual([
        `${p()}t/a`,
        `${p()}t/b`,
        `${p()}t/c/d`,
      ])
      const del = await s.txn([
        { op: 'delete', key: `${p()}u` },
        { op: 'delete-prefix', prefix: `${p()}t/` },
      ])
      expect(del.ok).toBe(true)
      expect(await s.list(p())).toEqual([])
    })

    test('a watch rebuilds the prefix from its snapshots or deltas, first the current state', async () => {
      run++
      await s.txn([{ op: 'put', key: `${p()}w/1`, value: 'one' }])
      const seen = new Map<string, StoreEntry>()
      const apply = (e: WatchEvent) => {
        if (e.kind === 'snapshot') {
          seen.clear()
          for (const x of e.entries) seen.set(x.key, x)
        } else {
          for (const x of e.put) seen.set(x.key, x)
          for (const k of e.deleted) seen.delete(k)
        }
      }
      const w = s.watch(`${p()}w/`, apply)
      try {
        await until(() => seen.get(`${p()}w/1`)?.value === 'one', 'the first event')
        await s.txn([
          { op: 'put', key: `${p()}w/2`, value: 'two' },
          { op: 'delete', key: `${p()}w/1` },
        ])
        await until(() => seen.has(`${p()}w/2`) && !seen.has(`${p()}w/1`), 'the change to arrive')
        expect(seen.get(`${p()}w/2`)).toEqual((await s.get(`${p()}w/2`))!)
      } finally {
        w.stop()
        await w.done
      }
    })

    test('a watch answers a change that leaves the tree as it was (the revision still moves)', async () => {
      run++
      await s.txn([{ op: 'put', key: `${p()}same/a`, value: 'a' }])
      const revisions: bigint[] = []
      let release!: () => void
      const held = new Promise<void>((r) => (release = r))
      // the first event's handler holds the watch while a key comes and goes: the next
      // round sees the tree as it was, at a later revision
      const w = s.watch(`${p()}same/`, async (e) => {
        revisions.push(e.revision)
        if (revisions.length === 1) await held
      })
      try {
        await until(() => revisions.length === 1, 'the first event')
        await s.txn([{ op: 'put', key: `${p()}same/b`, value: 'b' }])
        await s.txn([{ op: 'delete', key: `${p()}same/b` }])
        release()
        await until(() => revisions.length >= 2, 'an event for the unchanged-looking tree')
        expect(revisions[1]!).toBeGreaterThan(revisions[0]!)
      } finally {
        release()
        w.stop()
        await w.done
      }
    })

    test('a lease claims a key once; revoking it takes the key away and frees it', async () => {
      run++
      const key = `${p()}node`
      const a = await s.leases.grant({ name: `contract-${run}-a`, ttlMs: 10_000 })
      const b = await s.leases.grant({ name: `contract-${run}-b`, ttlMs: 10_000 })
      try {
        expect(await s.leases.claim(key, 'A', a)).toBe(true)
        expect(await s.leases.claim(key, 'B', b)).toBe(false)
        expect((await s.get(key))?.value).toBe('A')
        await s.leases.revoke(a)
        await until(async () => (await s.get(key)) === undefined, 'the key to go with its lease')
        expect(await s.leases.claim(key, 'B', b)).toBe(true)
      } finally {
        await s.leases.revoke(b)
      }
    })

    test('revokeNamed frees what an earlier holder of the same name left; keepAlive hears the loss', async () => {
      run++
      const name = `contract-${run}-node`
      const old = await s.leases.grant({ name, ttlMs: 10_000 })
      expect(await s.leases.claim(`${p()}n`, 'old', old)).toBe(true)
      let lost = false
      const ka = s.leases.keepAlive(old, 400, { onLost: () => (lost = true) })
      await s.leases.revokeNamed(name)
      await until(
        async () => (await s.get(`${p()}n`)) === undefined,
        "the stale holder's key to go",
      )
      await until(() => lost, 'keepAlive to report the lease lost')
      await ka.done
      const fresh = await s.leases.grant({ name, ttlMs: 10_000 })
      expect(await s.leases.claim(`${p()}n`, 'new', fresh)).toBe(true)
      await s.leases.revoke(fresh)
    })

    test('the store incarnation: agents meeting a store without one agree on one id (cas=0); a renewal or a value not ours is a new one', async () => {
      await s.txn([{ op: 'delete', key: INCARNATION_KEY }])
      const met = await Promise.all([1, 2, 3, 4].map(() => ensureIncarnation(s)))
      expect(new Set(met.map((m) => m.id)).size).toBe(1)
      expect(met.filter((m) => m.createdNow).length).toBe(1)
      const again = await ensureIncarnation(s)
      expect(again).toMatchObject({ id: met[0]!.id, createdNow: false })
      const renewed = await renewIncarnation(s)
      expect(renewed.id).not.toBe(met[0]!.id)
      expect((await ensureIncarnation(s)).id).toBe(renewed.id)
      await s.txn([{ op: 'put', key: INCARNATION_KEY, value: 'written by hand' }])
      const replaced = await ensureIncarnation(s)
      expect(replaced.createdNow).toBe(true)
      expect(parseIncarnation((await s.get(INCARNATION_KEY))!.value)?.id).toBe(replaced.id)
      await s.txn([{ op: 'delete', key: INCARNATION_KEY }])
    })
  })
}
