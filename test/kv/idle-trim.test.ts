// The store trims after a burst (src/kv/server/idle-trim.ts), on a real engine and libSQL file:
// once nothing has committed for the quiet time, the list cache and its entry JSON are gone and
// one collection ran; reads after the trim answer the same; commits keep postponing it.
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KvEngine } from '../../src/kv/server/engine.ts'
import { PrefixReads } from '../../src/kv/server/prefix-reads.ts'
import { trimWhenIdle } from '../../src/kv/server/idle-trim.ts'
import { createKvServer } from '../../src/kv/index.ts'
import { waitFor } from '../harness/wait.ts'
import { putEntry } from './helpers.ts'

const dir = mkdtempSync(join(tmpdir(), 'weft-idle-trim-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('trimWhenIdle', () => {
  test('after the quiet time: cache and entry JSON dropped, one collection; reads unchanged', async () => {
    const engine = await KvEngine.open(join(dir, 'trim.db'))
    const reads = new PrefixReads(engine)
    let collections = 0
    const trim = trimWhenIdle(engine, reads, { idleMs: 50, collect: () => collections++ })
    try {
      for (let i = 0; i < 20; i++) await putEntry(engine, `n/1/${i}`, `value ${i}`)
      const before = reads.read('n/1/').body()
      expect(reads.census()).toMatchObject({ prefixes: 1, bodies: 1, entryJsons: 20 })

      await waitFor(() => trim.trims === 1, { what: 'the trim after the burst' })
      expect(collections).toBe(1)
      expect(reads.census()).toMatchObject({ prefixes: 0, entryJsons: 0, bodyChars: 0 })
      expect(reads.read('n/1/').body()).toBe(before)

      // the next burst trims again, once
      await putEntry(engine, 'n/1/x', 'x')
      await waitFor(() => trim.trims === 2, { what: 'the trim after the second burst' })
      expect(collections).toBe(2)
    } finally {
      trim.stop()
      await engine.close()
    }
  })

  test('commits within the quiet time postpone the trim; stop() cancels it', async () => {
    const engine = await KvEngine.open(join(dir, 'postpone.db'))
    const reads = new PrefixReads(engine)
    const trim = trimWhenIdle(engine, reads, { idleMs: 150, collect: () => {} })
    try {
      const start = performance.now()
      // a write every ~30 ms for 400 ms: never 150 ms quiet (pacing the writes, not waiting)
      while (performance.now() - start < 400) {
        await putEntry(engine, 'n/2/a', String(performance.now()))
        reads.read('n/2/').body()
        expect(trim.trims).toBe(0)
        await Bun.sleep(30)
      }
      await waitFor(() => trim.trims === 1, { what: 'the trim once the writes stop' })

      await putEntry(engine, 'n/2/a', 'last')
      trim.stop()
      const stoppedAt = performance.now()
      // nothing fires after stop(): give the would-be timer twice its time, then look
      await waitFor(() => performance.now() - stoppedAt > 300, { what: 'twice the quiet time' })
      expect(trim.trims).toBe(1)
    } finally {
      trim.stop()
      await engine.close()
    }
  })

  test('the server trims after writes over HTTP, and its census says so', async () => {
    const kv = await createKvServer({
      dbPath: join(dir, 'server.db'),
      nodeName: 'n',
      advertise: '127.0.0.1:1',
      idleTrimMs: 50,
    })
    try {
      for (const k of ['a', 'b', 'c'])
        expect(
          (await kv.fetch(new Request(`http://x/v1/kv/p/${k}`, { method: 'PUT', body: k }))).status,
        ).toBe(200)
      const list = await (await kv.fetch(new Request('http://x/v1/kv/p/?recurse'))).text()
      expect(kv.census()).toMatchObject({ keys: 3, cached_prefixes: 1, cached_entryJsons: 3 })
      await waitFor(() => kv.census().idleTrims === 1, { what: "the server's trim" })
      expect(kv.census()).toMatchObject({ keys: 3, cached_prefixes: 0, cached_entryJsons: 0 })
      expect(await (await kv.fetch(new Request('http://x/v1/kv/p/?recurse'))).text()).toBe(list)
    } finally {
      await kv.close()
    }
  })
})
