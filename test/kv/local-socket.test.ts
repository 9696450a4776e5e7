// The embedded store on a unix socket for the host that serves it (issue 17: the store host's
// agent skips TLS to its own store). Real thread, real libSQL, real sockets: the socket is 0600
// in a 0700 directory, it keeps the token check (only TLS is dropped), a blocking query parks on
// it past Bun's idle timeout and one that waits out its wait is answered, joiners still use TLS, a stale socket from a crash is replaced,
// anything else at its path is refused, and stop removes it.
import { afterAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  ConsulClient,
  entryText,
  remoteStoreOptions,
  serveEmbeddedStoreInThread,
  type ThreadedEmbeddedStore,
} from '../../src/kv/index.ts'
import { waitFor } from '../harness/wait.ts'

const dir = mkdtempSync(join(tmpdir(), 'weft-kv-sock-'))
const stops: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const s of stops.reverse()) await s()
  rmSync(dir, { recursive: true, force: true })
})

const socketOf = (name: string) => join(dir, name, 'local-store', 'kv.sock')
const mode = (path: string) => (statSync(path).mode & 0o777).toString(8)

async function threaded(name: string): Promise<ThreadedEmbeddedStore> {
  const e = await serveEmbeddedStoreInThread({
    dataDir: join(dir, name),
    dbPath: join(dir, `${name}.db`),
    listen: { hostname: '127.0.0.1', port: 0 },
    advertise: '127.0.0.1',
    nodeName: name,
    sessionTtlMinMs: 1000,
    localSocket: socketOf(name),
  })
  stops.push(() => e.stop()) // once: a second stop answers the first one's promise
  return e
}

const overSocket = (socket: string, path: string, init: RequestInit = {}) =>
  fetch(`http://local-store${path}`, { ...init, unix: socket } as RequestInit)

describe('the embedded store on a unix socket', () => {
  test("0600 in a 0700 directory; the host's own client uses it, joiners still use TLS", async () => {
    const e = await threaded('s1')
    expect(e.localClientOptions).toEqual({
      address: 'http://local-store',
      token: e.clientOptions.token,
      unix: socketOf('s1'),
    })
    expect(statSync(socketOf('s1')).isSocket()).toBe(true)
    expect(mode(socketOf('s1'))).toBe('600')
    expect(mode(join(dir, 's1', 'local-store'))).toBe('700')
    const before = (await e.memory()).localRequests
    const own = new ConsulClient(e.localClientOptions!)
    await own.kv.put('weft/v1/x', 'own')
    expect(entryText((await own.kv.get('weft/v1/x')).value!)).toBe('own')
    expect((await e.memory()).localRequests).toBe(before + 2)
    const [, store, token] = /--store (\S+) --join-token (\S+)$/.exec(e.joinCommand)!
    const joined = new ConsulClient(
      remoteStoreOptions({ address: store!, joinToken: token! }).options,
    )
    expect(entryText((await joined.kv.get('weft/v1/x')).value!)).toBe('own')
    // the joiner's requests went over TLS, not the socket
    expect((await e.memory()).localRequests).toBe(before + 2)
  })

  test('a request without the token, or with a wrong one, is refused over the socket and changes nothing', async () => {
    const e = await threaded('s2')
    const socket = socketOf('s2')
    const none = await overSocket(socket, '/v1/kv/weft/v1/y', { method: 'PUT', body: 'in' })
    expect(none.status).toBe(403)
    expect(await none.text()).toStartWith('Permission denied')
    const wrong = await overSocket(socket, '/v1/kv/weft/v1/y', {
      method: 'PUT',
      body: 'in',
      headers: { 'X-Consul-Token': 'not-the-secret' },
    })
    expect(wrong.status).toBe(403)
    const read = await overSocket(socket, '/v1/kv/weft/v1/y', {
      headers: { 'X-Consul-Token': e.clientOptions.token! },
    })
    expect(read.status).toBe(404)
  })

  test("a blocking query parks on the socket past Bun's idle timeout and wakes on a write", async () => {
    const e = await threaded('s3')
    const client = new ConsulClient(e.localClientOptions!)
    await client.kv.put('weft/v1/parked/0', 'there')
    const { index } = await client.kv.list('weft/v1/parked/', {})
    const started = performance.now()
    const parked = client.kv.list('weft/v1/parked/', { index, waitMs: 60_000, retries: 0 })
    await waitFor(async () => (await e.memory()).waiters === 1, {
      what: 'the query to park on the store',
      timeoutMs: 10_000,
    })
    // past Bun's default idle timeout (10 s): a listener that kept it would cut the long poll
    await waitFor(() => performance.now() - started > 12_000, {
      what: '12 s with the query parked',
      timeoutMs: 15_000,
    })
    expect((await e.memory()).waiters).toBe(1)
    await client.kv.put('weft/v1/parked/a', 'woke')
    const woke = await parked
    expect(woke.index).toBeGreaterThan(index)
    expect(woke.value.map((x) => x.key)).toEqual(['weft/v1/parked/0', 'weft/v1/parked/a'])
  }, 30_000)

  test('a blocking query that waits out its whole wait, past 30 s, is answered, not closed', async () => {
    // what a quiet cluster makes of the agent's watches: no write comes, the wait runs out, and
    // the store answers with the same index. With an idle timeout on this socket (30 s, as
    // serveKv's) Bun closed such a connection instead (CI: doctor-probes' MTU case), since on a
    // unix listener it ignores the query's server.timeout(req, 0)
    const e = await threaded('s6')
    const client = new ConsulClient(e.localClientOptions!)
    await client.kv.put('weft/v1/quiet/0', 'there')
    const { index } = await client.kv.list('weft/v1/quiet/', {})
    const started = performance.now()
    const r = await client.kv.list('weft/v1/quiet/', { index, waitMs: 35_000, retries: 0 })
    expect(performance.now() - started).toBeGreaterThan(34_000)
    expect(r.index).toBe(index)
    expect(r.value.map((x) => x.key)).toEqual(['weft/v1/quiet/0'])
  }, 70_000)

  test('a stale socket from a crash is replaced; stop removes the socket, and the client says where it was', async () => {
    const socket = socketOf('s4')
    mkdirSync(join(dir, 's4', 'local-store'), { recursive: true, mode: 0o755 })
    // what a killed agent leaves: a bound socket nobody listens on any more
    const py = Bun.spawnSync([
      'python3',
      '-c',
      `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(socket)})`,
    ])
    expect(py.exitCode).toBe(0)
    expect(statSync(socket).isSocket()).toBe(true)
    const e = await threaded('s4')
    expect(mode(join(dir, 's4', 'local-store'))).toBe('700')
    expect(mode(socket)).toBe('600')
    await new ConsulClient(e.localClientOptions!).kv.put('weft/v1/z', 'after a crash')
    await e.stop()
    expect(existsSync(socket)).toBe(false)
    // the agent's errors then name the socket, not a made-up host
    const gone = await new ConsulClient({ ...e.localClientOptions!, retries: 0 }).kv
      .get('weft/v1/z')
      .then(
        () => undefined,
        (x: Error) => x,
      )
    expect(gone?.message).toContain(
      `cannot reach the cluster store at http://local-store (unix socket ${socket})`,
    )
  })

  test('anything but a socket at its path is refused with what to do, and nothing is served', async () => {
    const socket = socketOf('s5')
    mkdirSync(join(dir, 's5', 'local-store'), { recursive: true })
    writeFileSync(socket, 'not a socket')
    const failed = await threaded('s5').then(
      () => undefined,
      (x: Error) => x,
    )
    expect(failed?.name).toBe('ValidationError')
    expect(failed?.message).toContain(`${socket} exists and is not a socket: remove it`)
    expect(statSync(socket).isFile()).toBe(true)
  })
})
