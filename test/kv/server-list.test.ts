// `--store consul://A:8500,B:8500,C:8500`: the client tries the servers in turn, against
// three embedded servers in-process (one down from the start, one stopped midway), and never
// sends a write twice when a server took it but did not answer.
import { afterAll, describe, expect, test } from 'bun:test'
import { ConsulClient, StoreUnreachableError, entryText } from '../../src/kv/index.ts'
import { startTestServer, type TestServer } from './helpers.ts'

const stops: (() => unknown)[] = []
afterAll(async () => {
  for (const s of stops.reverse()) await s()
})

async function server(): Promise<TestServer> {
  const s = await startTestServer()
  stops.push(() => s.cleanup())
  return s
}

/** A port nothing listens on (bound once, then released). */
function freePort(): number {
  const s = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('') })
  const port = s.port!
  s.stop(true)
  return port
}

const hostPort = (s: TestServer) => `127.0.0.1:${s.kv.port}`

describe('a store given as several servers', () => {
  test('a request moves past a server that is down, stays with the one that answered, and moves on when that one stops', async () => {
    const b = await server()
    const c = await server()
    const down = `127.0.0.1:${freePort()}`
    const client = new ConsulClient({
      address: `consul://${down},${hostPort(b)},${hostPort(c)}`,
      retries: 0,
    })
    expect(client.transport.servers.urls).toEqual([`http://${down}`, b.kv.url, c.kv.url])
    expect(await client.kv.put('k', 'on-b')).toBe(true) // a write too: the refused connection sent nothing
    expect(client.address).toBe(b.kv.url)
    expect(entryText((await client.kv.get('k')).value!)).toBe('on-b')
    await b.kv.stop()
    expect(await client.kv.get('k').then((r) => r.value)).toBeUndefined() // C is another server: no such key there
    expect(client.address).toBe(c.kv.url)
    expect(await client.kv.put('k', 'on-c')).toBe(true)
    expect(entryText((await new ConsulClient({ address: c.kv.url }).kv.get('k')).value!)).toBe(
      'on-c',
    )
  })

  test('when every server is down the error names each of them', async () => {
    const ports = [freePort(), freePort(), freePort()]
    const client = new ConsulClient({
      address: ports.map((p) => `127.0.0.1:${p}`).join(','),
      retries: 0,
    })
    const e = await client.kv.get('k').catch((x) => x)
    expect(e).toBeInstanceOf(StoreUnreachableError)
    expect(e.message).toStartWith('cannot reach any server of the cluster store')
    for (const p of ports) expect(e.message).toContain(`127.0.0.1:${p}`)
  })

  test('a write that reached a server but got no answer is not sent to the next one; a read is', async () => {
    const b = await server()
    const seen: string[] = []
    const silent = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      idleTimeout: 0,
      fetch: (req) => {
        seen.push(req.method)
        return new Promise<Response>(() => undefined) // never answers
      },
    })
    stops.push(() => silent.stop(true))
    const client = new ConsulClient({
      address: `127.0.0.1:${silent.port},${hostPort(b)}`,
      retries: 0,
      timeoutMs: 300,
    })
    const w = await client.kv.put('once', 'x').catch((x) => x)
    expect(w).toBeInstanceOf(StoreUnreachableError)
    expect(w.message).toContain('no answer within 300 ms')
    expect(
      await new ConsulClient({ address: b.kv.url }).kv.get('once').then((r) => r.value),
    ).toBeUndefined()
    expect((await client.kv.get('once')).value).toBeUndefined() // answered by B (404), after A timed out
    expect(client.address).toBe(b.kv.url)
    expect(seen).toEqual(['PUT', 'GET'])
  })

  test('an empty item in the list is refused', () => {
    expect(() => new ConsulClient({ address: 'consul://a:8500,,b:8500' })).toThrow(
      /empty server in the list/,
    )
  })
})
