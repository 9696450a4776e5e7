// The re-announce decision of a (re)registered agent (src/agent/incarnation.ts): the pure rule,
// then the step over an etcd-shaped in-memory store and the remembered id in a real libSQL
// state.db. The agents' restarts against a real store are test/agent/incarnation.test.ts.
import { afterEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  STORE_INCARNATION_FACT,
  decideReannounce,
  reannounceIfStoreLost,
  type IncarnationMemory,
} from '../../src/agent/incarnation.ts'
import { INCARNATION_KEY, renewIncarnation } from '../../src/store/incarnation.ts'
import { MirrorDb } from '../../src/mirror/index.ts'
import { createLogger } from '../../src/log.ts'
import { MemoryDeltaStore } from '../fakes/agent-memory-store.ts'

const log = createLogger({ level: 'silent' })
const cleanups: (() => void)[] = []
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c()
})

describe('decideReannounce', () => {
  const cases = [
    [
      'nothing remembered, the store has an id',
      undefined,
      { id: 'a1', createdNow: false },
      true,
      'nothing remembered',
    ],
    [
      'nothing remembered, the id made now',
      undefined,
      { id: 'a1', createdNow: true },
      true,
      'nothing remembered',
    ],
    ['the id remembered', 'a1', { id: 'a1', createdNow: false }, false, 'store kept its data'],
    ['another id', 'a1', { id: 'b2', createdNow: false }, true, 'another store incarnation'],
    [
      'no id (made now)',
      'a1',
      { id: 'b2', createdNow: true },
      true,
      'the store had no incarnation',
    ],
  ] as const
  for (const [what, remembered, store, reannounce, why] of cases)
    test(`${what}: ${reannounce ? 're-announce' : 'write nothing back'} (${why})`, () => {
      expect(decideReannounce(remembered, store)).toEqual({ reannounce, why } as never)
    })
  const same = { id: 'a1', createdNow: false }
  test('the id remembered, the store now past what the mirror saw: write nothing back', () => {
    expect(decideReannounce('a1', same, { seen: 41n, now: 42n }).reannounce).toBe(false)
  })
  test('the id remembered, the store now not past what the mirror saw: re-announce (went back in time)', () => {
    for (const now of [41n, 7n])
      expect(decideReannounce('a1', same, { seen: 41n, now })).toEqual({
        reannounce: true,
        why: 'the store went back in time',
      })
  })
  test('revisions never override another id or a missing one', () => {
    expect(decideReannounce('a1', { id: 'b2', createdNow: false }, { seen: 1n, now: 9n }).why).toBe(
      'another store incarnation',
    )
    expect(decideReannounce(undefined, same, { seen: 9n, now: 1n }).why).toBe('nothing remembered')
  })
})

function memory(): IncarnationMemory & { id?: string } {
  const m: IncarnationMemory & { id?: string } = {
    remembered: async () => m.id,
    remember: async (id) => void (m.id = id),
  }
  return m
}

describe('reannounceIfStoreLost', () => {
  const rig = () => {
    const store = new MemoryDeltaStore()
    cleanups.push(() => store.close())
    const mem = memory()
    const calls = { n: 0 }
    const nodeKey = 'weft/v1/nodes/h1'
    /** What a registration does first: claim the node record (a new revision of the store). */
    const register = async () => {
      if (!(await store.txn([{ op: 'put', key: nodeKey, value: '{}' }])).ok)
        throw new Error('the claim was refused')
    }
    const step = (
      reannounce: () => Promise<number> = async () => (calls.n++, 1),
      seenRevision?: bigint,
    ) => reannounceIfStoreLost({ store, memory: mem, reannounce, seenRevision, nodeKey, log })
    return { store, mem, calls, step, register, nodeKey }
  }

  test('a first start re-announces (nothing local to lose) and remembers the id it made', async () => {
    const r = rig()
    const out = await r.step()
    expect(out.decision).toEqual({ reannounce: true, why: 'nothing remembered' })
    expect(r.calls.n).toBe(1)
    expect(r.mem.id).toBe(out.incarnation)
    expect(await r.store.get(INCARNATION_KEY)).toBeDefined()
  })

  test('a restart on the store that kept its data writes nothing back', async () => {
    const r = rig()
    const first = await r.step()
    const again = await r.step()
    expect(again.decision.reannounce).toBe(false)
    expect(again.written).toBe(0)
    expect(r.calls.n).toBe(1)
    expect(r.mem.id).toBe(first.incarnation)
  })

  test('a store that lost its data (no id), or a restored one (another id): re-announce, then remember the new id', async () => {
    const r = rig()
    const first = await r.step()
    await r.store.txn([{ op: 'delete', key: INCARNATION_KEY }])
    const lost = await r.step()
    expect(lost.decision).toEqual({ reannounce: true, why: 'the store had no incarnation' })
    expect(lost.incarnation).not.toBe(first.incarnation)
    expect(r.mem.id).toBe(lost.incarnation)
    const restored = await renewIncarnation(r.store)
    const after = await r.step()
    expect(after.decision).toEqual({ reannounce: true, why: 'another store incarnation' })
    expect(r.mem.id).toBe(restored.id)
    expect(r.calls.n).toBe(3)
  })

  test('same id, but the store is behind what the last run saw (restored from a copy of its files): re-announce', async () => {
    const r = rig()
    await r.register()
    await r.step()
    // the last run's mirror saw revisions past the store's now: the store is a copy from before
    await r.register()
    const seen = (await r.store.get(r.nodeKey))!.modifyIndex + 10n
    const behind = await r.step(undefined, seen)
    expect(behind.decision).toEqual({ reannounce: true, why: 'the store went back in time' })
    // a store that kept its data is past everything the mirror saw: nothing written back
    const past = (await r.store.get(r.nodeKey))!.modifyIndex
    await r.register()
    expect((await r.step(undefined, past)).decision.reannounce).toBe(false)
    expect(r.calls.n).toBe(2)
  })

  test('the node record gone right after the claim (session expired): no decision, the registration tries again', async () => {
    const r = rig()
    await r.register()
    await r.step()
    // without the claim's revision a store gone back in time would pass for one that kept its data
    await r.store.txn([{ op: 'delete', key: r.nodeKey }])
    const err = await r.step(undefined, 5n).catch((e: Error) => e)
    expect((err as { code?: string }).code).toBe('node_record_gone')
    expect(r.calls.n).toBe(1)
  })

  test('a re-announce that fails leaves the old id remembered: the next registration re-announces again', async () => {
    const r = rig()
    await r.step()
    const old = r.mem.id
    await renewIncarnation(r.store)
    const err = await r
      .step(async () => {
        throw new Error('store unreachable')
      })
      .catch((e: Error) => e)
    expect((err as Error).message).toBe('store unreachable')
    expect(r.mem.id).toBe(old)
    expect((await r.step()).decision.reannounce).toBe(true)
  })
})

test('the id is a host fact of state.db: kept across a reopen (an agent restart)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-incarnation-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'state.db')
  const db = await MirrorDb.open(path)
  expect(await db.fact(STORE_INCARNATION_FACT)).toBeUndefined()
  await db.setFact(STORE_INCARNATION_FACT, 'a1')
  await db.setFact(STORE_INCARNATION_FACT, 'b2')
  db.close()
  const reopened = await MirrorDb.open(path)
  expect(await reopened.fact(STORE_INCARNATION_FACT)).toBe('b2')
  reopened.close()
})
