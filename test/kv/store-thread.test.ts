// The embedded store on its own thread (src/kv/secure/store-thread.ts), as the agent serves it:
// it answers its own client and the join command's, keeps answering while the thread that
// started it is blocked (the reason it has a thread), reports its own heap, reports a start that fails, and stops;
// a thread that ends on its own says so (ended) and leaves nothing to wait for.
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  ConsulClient,
  entryText,
  joinTokenPath,
  remoteStoreOptions,
  serveEmbeddedStoreInThread,
  type ThreadedEmbeddedStore,
} from '../../src/kv/index.ts'
import { StoreThreadEndedError, thrownText } from '../../src/kv/secure/store-thread.ts'

const dir = mkdtempSync(join(tmpdir(), 'weft-kv-thread-'))
const stops: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const s of stops.reverse()) await s().catch(() => undefined)
  rmSync(dir, { recursive: true, force: true })
})

async function threaded(name: string, port = 0): Promise<ThreadedEmbeddedStore> {
  const e = await serveEmbeddedStoreInThread({
    dataDir: join(dir, name),
    dbPath: join(dir, `${name}.db`),
    listen: { hostname: '127.0.0.1', port },
    advertise: '127.0.0.1',
    nodeName: name,
    sessionTtlMinMs: 1000,
  })
  stops.push(() => e.stop())
  return e
}

describe('serveEmbeddedStoreInThread', () => {
  test('serves TLS with the token to its own client and to a joiner', async () => {
    const e = await threaded('h1')
    expect(e.url).toBe(`https://127.0.0.1:${e.port}`)
    const own = new ConsulClient(e.clientOptions)
    await own.kv.put('weft/v1/x', 'own')
    const [, store, token] = /--store (\S+) --join-token (\S+)$/.exec(e.joinCommand)!
    const joined = new ConsulClient(
      remoteStoreOptions({ address: store!, joinToken: token! }).options,
    )
    expect(entryText((await joined.kv.get('weft/v1/x')).value!)).toBe('own')
  })

  test('answers while the thread that started it is blocked', async () => {
    const e = await threaded('h2')
    await new ConsulClient(e.clientOptions).kv.put('weft/v1/y', 'answered')
    const secret = readFileSync(joinTokenPath(join(dir, 'h2')), 'utf8')
      .trim()
      .split('-')
      .pop()!
    // spawnSync blocks this thread until curl is done: only a store on another thread answers
    const curl = Bun.spawnSync([
      'curl',
      '-sk',
      '--max-time',
      '5',
      '-H',
      `X-Consul-Token: ${secret}`,
      `${e.url}/v1/kv/weft/v1/y?raw`,
    ])
    expect(curl.stderr.toString()).toBe('')
    expect(curl.stdout.toString()).toBe('answered')
  })

  test("memory: the thread's own heap and the queries parked on it", async () => {
    const e = await threaded('h6')
    const client = new ConsulClient(e.clientOptions)
    const { index } = await client.kv.list('weft/v1/', {})
    const ac = new AbortController()
    const parked = client.kv
      .list('weft/v1/parked/', { index, waitMs: 60_000, signal: ac.signal, retries: 0 })
      .catch((x: Error) => x)
    const deadline = performance.now() + 10_000
    let m = await e.memory(true)
    while (m.waiters < 1 && performance.now() < deadline) {
      await Bun.sleep(20)
      m = await e.memory(true)
    }
    expect(m.waiters).toBe(1)
    expect(m.heapSize).toBeGreaterThan(0)
    expect(m.heapCapacity).toBeGreaterThanOrEqual(m.heapSize)
    expect(m.objects.length).toBeGreaterThan(0)
    ac.abort()
    await parked
  })

  test('a start that fails rejects with the cause', async () => {
    const first = await threaded('h3')
    const err = (await threaded('h4', first.port).catch((x) => x)) as Error
    expect(err).toBeInstanceOf(Error)
    expect(err.message).toMatch(/port|address|in use|EADDRINUSE/i)
  })

  test('a thread that ends on its own: ended says why; stop and memory do not wait for it', async () => {
    // the worker's test-only switch (store-worker.ts): it throws once this file exists
    const fault = join(dir, 'fault')
    process.env.WEFT_TEST_STORE_THREAD_FAULT = fault
    let e: ThreadedEmbeddedStore
    try {
      e = await threaded('ends')
    } finally {
      delete process.env.WEFT_TEST_STORE_THREAD_FAULT // read once, as the thread starts
    }
    const own = new ConsulClient(e.clientOptions)
    await own.kv.put('weft/v1/x', 'before')
    writeFileSync(fault, '')
    const ended = await e.ended
    expect(ended).toBeInstanceOf(StoreThreadEndedError)
    expect(ended.message).toContain(`error: a test fault (${fault} exists)`)
    expect(ended.message).toContain('the agent exits so that its supervisor starts it again')
    expect(ended.message).not.toContain('|') // Bun's source excerpt is left out
    await expect(e.memory()).rejects.toThrow("the embedded store's thread has ended")
    const started = performance.now()
    await e.stop()
    expect(performance.now() - started).toBeLessThan(1000) // not the 10 s a live thread gets
  })

  test("thrownText: a Worker error's own line and first frame, without Bun's source excerpt", () => {
    const bun =
      '3 | const x = 1\n4 |   throw new Error(`boom`)\n              ^\nerror: boom\n      at <anonymous> (src/w.ts:4:9)\n      at run (src/w.ts:9:1)\n'
    expect(thrownText(bun)).toBe('error: boom (at <anonymous> (src/w.ts:4:9))')
    expect(thrownText('TypeError: x is not a function')).toBe('TypeError: x is not a function')
    expect(thrownText('something else entirely')).toBe('something else entirely')
  })

  test('stop closes the listener', async () => {
    const e = await threaded('h5')
    await e.stop()
    const r = await fetch(`${e.url}/v1/status/leader`, { tls: { rejectUnauthorized: false } }).then(
      () => 'answered',
      (x: Error) => x.message,
    )
    expect(r).not.toBe('answered')
  })
})
