// The store export document and the import's rules, on the real embedded store (its server
// in this process over a temp libSQL file, reached through ConsulStore) and on the etcd-shaped
// in-memory store; and `weft store export|import` (in process) against an agent's store file.
import { afterEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createKvServer, type KvServer } from '../../src/kv/index.ts'
import { ConsulStore, type ClusterStore } from '../../src/store/index.ts'
import {
  EXPORT_VERSION,
  StoreNotEmptyError,
  exportStore,
  formatStoreExport,
  importStore,
  parseStoreExport,
  type StoreExport,
} from '../../src/store/export.ts'
import {
  INCARNATION_KEY,
  ensureIncarnation,
  parseIncarnation,
} from '../../src/store/incarnation.ts'
import { runCli } from '../../src/cli/run.ts'
import { MemoryDeltaStore } from '../fakes/agent-memory-store.ts'
import { waitFor } from '../harness/wait.ts'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-export-test-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The embedded store's server on a temp file, served to this process only. */
async function embeddedStore(): Promise<{ store: ConsulStore; kv: KvServer }> {
  const kv = await createKvServer({
    dbPath: join(tempDir(), 'kv.db'),
    nodeName: 'test',
    advertise: 'in-process',
    sessionTtlMinMs: 1000,
  })
  cleanups.push(() => kv.close())
  const store = ConsulStore.connect({
    address: 'http://in-process',
    fetch: ((i: string, init?: RequestInit) => kv.fetch(new Request(i, init))) as typeof fetch,
  })
  return { store, kv }
}

function memoryStore(): MemoryDeltaStore {
  const s = new MemoryDeltaStore()
  cleanups.push(() => s.close())
  return s
}

/** A small cluster: a network, its name and VNI keys, two endpoints, and two live nodes. */
async function seed(store: ClusterStore): Promise<void> {
  const put = (key: string, value: string) => ({ op: 'put' as const, key, value })
  const r = await store.txn([
    put('weft/v1/networks/n1', '{"id":"n1","name":"blue"}'),
    put('weft/v1/names/blue', 'n1'),
    put('weft/v1/vnis/256', 'n1'),
    put('weft/v1/netseq', '3'),
    put('weft/v1/ipam/n1/10.0.0.2', 'e1'),
    put('weft/v1/endpoints/n1/e1', '{"id":"e1","ip":"10.0.0.2","node":"h1"}'),
    put('weft/v1/endpoints/n1/e2', '{"id":"e2","ip":"10.0.0.3","node":"h2"}'),
    put('other/app/key', 'not ours'),
  ])
  expect(r.ok).toBe(true)
  for (const node of ['h1', 'h2']) {
    const lease = await store.leases.grant({ name: `weft-node-${node}`, ttlMs: 60_000 })
    cleanups.push(() => store.leases.revoke(lease).catch(() => undefined))
    const value = JSON.stringify({ name: node, advertise: `198.18.0.${node === 'h1' ? 1 : 2}` })
    expect(await store.leases.claim(`weft/v1/nodes/${node}`, value, lease)).toBe(true)
  }
}

/** The cluster records (not the store's incarnation: an import makes a fresh one by design). */
const snapshot = async (s: ClusterStore) =>
  (await s.list('weft/v1/'))
    .filter((e) => e.key !== INCARNATION_KEY)
    .map((e) => [e.key, e.value] as const)

describe('the export document', () => {
  test('holds every key under weft/v1/ sorted, node records apart, nothing outside the root', async () => {
    const { store } = await embeddedStore()
    await seed(store)
    const doc = await exportStore(store, () => new Date('2026-12-01T10:00:00Z'))
    expect(doc.format).toBe('weft-store-export')
    expect(doc.version).toBe(EXPORT_VERSION)
    expect(doc.source).toBe('http://in-process')
    expect(doc.exportedAt).toBe('2026-12-01T10:00:00.000Z')
    expect(doc.keys.map((k) => k.key)).toEqual([
      'weft/v1/endpoints/n1/e1',
      'weft/v1/endpoints/n1/e2',
      'weft/v1/ipam/n1/10.0.0.2',
      'weft/v1/names/blue',
      'weft/v1/netseq',
      'weft/v1/networks/n1',
      'weft/v1/vnis/256',
    ])
    expect(doc.nodes.map((k) => k.key)).toEqual(['weft/v1/nodes/h1', 'weft/v1/nodes/h2'])
  })

  test('reads back as it was written (format, then parse)', async () => {
    const store = memoryStore()
    await seed(store)
    const doc = await exportStore(store)
    const text = formatStoreExport(doc)
    expect(parseStoreExport(text)).toEqual(doc)
    expect(JSON.parse(text)).toEqual(doc)
    // one key per line: two exports diff line by line
    expect(text.split('\n').filter((l) => l.includes('"key"')).length).toBe(9)
  })

  const valid = (): StoreExport => ({
    format: 'weft-store-export',
    version: 1,
    root: 'weft/v1/',
    exportedAt: '',
    source: '',
    keys: [{ key: 'weft/v1/names/blue', value: 'n1' }],
    nodes: [],
  })
  const refused: [string, (d: any) => unknown, RegExp][] = [
    ['not JSON', () => '{"format": ', /is not JSON/],
    ['another format', (d) => ({ ...d, format: 'consul-snapshot' }), /"format" must be/],
    ['a newer version', (d) => ({ ...d, version: 2 }), /written by a newer weft/],
    ['another root', (d) => ({ ...d, root: 'weft/v2/' }), /"root" must be/],
    [
      'a key outside the root',
      (d) => ({ ...d, keys: [{ key: 'other/x', value: '' }] }),
      /is not under weft\/v1\//,
    ],
    [
      'a node record among the keys',
      (d) => ({ ...d, keys: [{ key: 'weft/v1/nodes/h1', value: '{}' }] }),
      /belong in "nodes"/,
    ],
    ['a key listed twice', (d) => ({ ...d, keys: [...d.keys, ...d.keys] }), /listed twice/],
    [
      'a value that is not text',
      (d) => ({ ...d, keys: [{ key: 'weft/v1/a', value: 1 }] }),
      /must be/,
    ],
  ]
  for (const [what, mutate, why] of refused) {
    test(`refuses ${what}, saying why`, () => {
      const d = mutate(valid())
      const text = typeof d === 'string' ? d : JSON.stringify(d)
      expect(() => parseStoreExport(text, 'x.json')).toThrow(why)
    })
  }
})

describe('importing', () => {
  for (const [name, make] of [
    ['the embedded store (Consul API)', async () => (await embeddedStore()).store],
    ['an etcd-shaped store (deltas, leases)', async () => memoryStore()],
  ] as const) {
    test(`into an empty ${name}: every key as it was, node records on a grace lease of the agent's name`, async () => {
      const from = memoryStore()
      await seed(from)
      const doc = await exportStore(from)
      const to = await make()
      const r = await importStore(to, doc, { nodeGraceMs: 60_000 })
      expect(r).toEqual({ written: 7, deleted: 0, nodesOnGrace: ['h1', 'h2'], nodesLive: [] })
      expect(await snapshot(to)).toEqual(await snapshot(from))
      // the restarted agent's registration revokes the grace lease by name and claims its record
      await to.leases.revokeNamed('weft-node-h1')
      await waitFor(async () => !(await to.get('weft/v1/nodes/h1')), {
        what: 'h1 record gone with its grace lease',
      })
      const mine = await to.leases.grant({ name: 'weft-node-h1', ttlMs: 60_000 })
      expect(await to.leases.claim('weft/v1/nodes/h1', '{"name":"h1"}', mine)).toBe(true)
      await to.leases.revokeNamed('weft-node-h1')
      await to.leases.revokeNamed('weft-node-h2')
    })
  }

  test('node records whose agents never come back die when the grace ends', async () => {
    const from = memoryStore()
    await seed(from)
    const to = memoryStore()
    await importStore(to, await exportStore(from), { nodeGraceMs: 1000 })
    expect(await to.get('weft/v1/nodes/h2')).toBeDefined()
    await waitFor(async () => !(await to.get('weft/v1/nodes/h2')), {
      what: 'h2 record expired with the grace lease',
      timeoutMs: 5000,
    })
    expect(await to.get('weft/v1/networks/n1')).toBeDefined()
  })

  test('refuses (409) a store that holds weft keys, and writes nothing', async () => {
    const from = memoryStore()
    await seed(from)
    const doc = await exportStore(from)
    const { store: to } = await embeddedStore()
    await to.txn([{ op: 'put', key: 'weft/v1/names/red', value: 'n9' }])
    const before = await snapshot(to)
    const err = await importStore(to, doc).catch((e) => e)
    expect(err).toBeInstanceOf(StoreNotEmptyError)
    expect(err.code).toBe('store_not_empty')
    expect(err.message).toContain('nothing was written')
    expect(err.message).toContain('--force')
    expect(await snapshot(to)).toEqual(before)
    // no grace lease was granted either
    expect((await to.client.session.all()).value).toEqual([])
  })

  test('a store whose only weft keys are live node records is empty enough; those nodes are left alone', async () => {
    const from = memoryStore()
    await seed(from)
    const to = memoryStore()
    const lease = await to.leases.grant({ name: 'weft-node-h1', ttlMs: 60_000 })
    await to.leases.claim('weft/v1/nodes/h1', '{"name":"h1","live":true}', lease)
    const r = await importStore(to, await exportStore(from))
    expect(r.nodesLive).toEqual(['h1'])
    expect(r.nodesOnGrace).toEqual(['h2'])
    expect((await to.get('weft/v1/nodes/h1'))?.value).toBe('{"name":"h1","live":true}')
  })

  test('--force replaces the cluster records: the target ends equal to the export', async () => {
    const from = memoryStore()
    await seed(from)
    const doc = await exportStore(from)
    const { store: to } = await embeddedStore()
    await to.txn([
      { op: 'put', key: 'weft/v1/names/red', value: 'n9' },
      { op: 'put', key: 'weft/v1/names/blue', value: 'stale' },
    ])
    const r = await importStore(to, doc, { force: true })
    expect(r.written).toBe(7)
    expect(r.deleted).toBe(1)
    expect(await snapshot(to)).toEqual(await snapshot(from))
    await to.leases.revokeNamed('weft-node-h1')
    await to.leases.revokeNamed('weft-node-h2')
  })

  for (const [name, make] of [
    ['the embedded store (Consul API)', async () => (await embeddedStore()).store],
    ['an etcd-shaped store (deltas, leases)', async () => memoryStore()],
  ] as const) {
    test(`into ${name}: a restore is a new incarnation (a fresh id, never the exported one); an id alone is an empty store`, async () => {
      const from = memoryStore()
      await seed(from)
      const old = await ensureIncarnation(from)
      const doc = await exportStore(from)
      expect(
        doc.keys.map((k) => k.key),
        'the export carries the old store identity',
      ).not.toContain(INCARNATION_KEY)
      // a store an agent met before the restore: it made an id, nothing else
      const to = await make()
      const met = await ensureIncarnation(to)
      expect(met.createdNow).toBe(true)
      // a hand-made document with the old id in it: the import still makes its own
      await importStore(to, {
        ...doc,
        keys: [...doc.keys, { key: INCARNATION_KEY, value: JSON.stringify(old) }],
      })
      const after = parseIncarnation((await to.get(INCARNATION_KEY))!.value)!
      expect(after.id).not.toBe(old.id)
      expect(after.id, 'the restore kept the incarnation the store had before it').not.toBe(met.id)
      expect((await ensureIncarnation(to)).id).toBe(after.id)
      await to.leases.revokeNamed('weft-node-h1')
      await to.leases.revokeNamed('weft-node-h2')
    })
  }

  test('a cluster larger than one transaction goes in several, every key there', async () => {
    const from = memoryStore()
    const ops = Array.from({ length: 300 }, (_, i) => ({
      op: 'put' as const,
      key: `weft/v1/ipam/n1/10.0.${Math.floor(i / 250)}.${i % 250}`,
      value: `e${i}`,
    }))
    for (let i = 0; i < ops.length; i += 50) await from.txn(ops.slice(i, i + 50))
    const { store: to } = await embeddedStore()
    expect((await importStore(to, await exportStore(from))).written).toBe(300)
    expect((await to.list('weft/v1/ipam/')).length).toBe(300)
  })
})

describe('weft store export | import (the CLI, on an agent store file)', () => {
  const cli = async (args: string[], env: Record<string, string> = {}) => {
    const out: string[] = []
    const err: string[] = []
    const code = await runCli(
      args,
      { out: (t) => out.push(t), err: (t) => err.push(t), isTty: false },
      env,
    )
    return { code, stdout: out.join('\n'), stderr: err.join('\n') }
  }

  test('moves a store file into another agent store file; a second import is refused unless --force', async () => {
    const data = tempDir()
    const from = memoryStore()
    await seed(from)
    const file = join(data, 'export.json')
    writeFileSync(file, formatStoreExport(await exportStore(from)))
    const imp = await cli([
      'store',
      'import',
      '--store',
      'embedded',
      '--data',
      data,
      '--name',
      'h1',
      file,
    ])
    expect(imp.stderr).toContain('imported 7 keys into the embedded store file')
    expect(imp.code).toBe(0)
    const again = await cli([
      'store',
      'import',
      '--store',
      'embedded',
      '--data',
      data,
      '--name',
      'h1',
      file,
    ])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('nothing was written')
    const forced = await cli([
      'store',
      'import',
      '--store',
      'embedded',
      '--data',
      data,
      '--name',
      'h1',
      '--force',
      file,
    ])
    expect(forced.code).toBe(0)
    const out = join(data, 'back.json')
    const exp = await cli([
      'store',
      'export',
      '--store',
      'embedded',
      '--data',
      data,
      '--name',
      'h1',
      '-o',
      out,
    ])
    expect(exp.code).toBe(0)
    expect(exp.stderr).toContain('exported 7 keys and 2 node records')
    const back = parseStoreExport(readFileSync(out, 'utf8'))
    expect(back.keys).toEqual(parseStoreExport(readFileSync(file, 'utf8')).keys)
    expect(back.nodes.map((n) => n.key)).toEqual(['weft/v1/nodes/h1', 'weft/v1/nodes/h2'])
  })

  test('bad input is refused before any store is contacted (exit 2)', async () => {
    const dir = tempDir()
    const bad = join(dir, 'bad.json')
    writeFileSync(bad, '{"format":"nope"}')
    // 192.0.2.1 (TEST-NET) is never contacted: the document is checked first
    const r = await cli(['store', 'import', '--store', 'etcd://192.0.2.1:2379', bad])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('is not a weft store export')
    const noStore = await cli(['store', 'export'])
    expect(noStore.code).toBe(2)
    expect(noStore.stderr).toContain('--store is required')
    const unknown = await cli(['store', 'export', '--store', 'embedded', '--forse'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('unknown flag')
    const wrongPair = await cli([
      'store',
      'export',
      '--store',
      'etcd://192.0.2.1:2379',
      '--join-token',
      'x',
    ])
    expect(wrongPair.code).toBe(2)
    expect(wrongPair.stderr).toContain('is not for an etcd store')
    const grace = await cli(['store', 'import', '--store', 'embedded', '--node-grace', '2d', bad])
    expect(grace.code).toBe(2)
    expect(grace.stderr).toContain('--node-grace')
    const noAgent = await cli([
      'store',
      'export',
      '--store',
      'embedded',
      '--data',
      dir,
      '--name',
      'nobody',
    ])
    expect(noAgent.code).toBe(2)
    expect(noAgent.stderr).toContain('does not exist')
  })

  test('dist/weft: export | import through a pipe', async () => {
    const { weft } = await import('../cli/weft.ts')
    const data = tempDir()
    const from = memoryStore()
    await seed(from)
    const doc = formatStoreExport(await exportStore(from))
    const imp = await weft(
      ['store', 'import', '--store', 'embedded', '--data', data, '--name', 'h2'],
      {
        stdin: doc,
      },
    )
    expect(imp.stderr).toContain('imported 7 keys')
    expect(imp.code).toBe(0)
    const exp = await weft([
      'store',
      'export',
      '--store',
      'embedded',
      '--data',
      data,
      '--name',
      'h2',
    ])
    expect(exp.code).toBe(0)
    expect(parseStoreExport(exp.stdout).keys).toEqual(parseStoreExport(doc).keys)
    // no document on stdin (it is /dev/null): refused, nothing opened
    const empty = await weft([
      'store',
      'import',
      '--store',
      'embedded',
      '--data',
      data,
      '--name',
      'h2',
    ])
    expect(empty.code).toBe(2)
    expect(empty.stderr).toContain('is not JSON')
  })

  test('help and completion know the store commands', async () => {
    const help = await cli(['store', 'import', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('--force')
    expect(help.stdout).toContain('--node-grace')
    const bash = await cli(['completion', 'bash'])
    expect(bash.stdout).toContain('"store import")')
    expect(bash.stdout).toContain('--output')
  })
})
