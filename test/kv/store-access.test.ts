// The two calls the agent's wiring makes to reach the cluster store: serveEmbeddedStore (the
// first agent) and remoteStoreOptions (everyone else, and agents on a real Consul).
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  ConsulClient,
  KvHttpError,
  entryText,
  remoteStoreOptions,
  serveEmbeddedStore,
  type EmbeddedStore,
} from '../../src/kv/index.ts'

const dir = mkdtempSync(join(tmpdir(), 'weft-kv-access-'))
const stops: (() => unknown)[] = []
afterAll(async () => {
  for (const s of stops.reverse()) await s()
  rmSync(dir, { recursive: true, force: true })
})

async function embedded(listen: string, name: string): Promise<EmbeddedStore> {
  const e = await serveEmbeddedStore({
    dataDir: join(dir, name),
    dbPath: join(dir, `${name}.db`),
    listen: { hostname: listen, port: 0 },
    advertise: '127.0.0.1',
    nodeName: name,
    sessionTtlMinMs: 1000,
  })
  stops.push(() => e.stop())
  return e
}

describe('serveEmbeddedStore', () => {
  test('serves TLS with the token; its own client and the printed join command both work', async () => {
    const e = await embedded('127.0.0.1', 'h1')
    expect(e.served.url).toStartWith('https://127.0.0.1:')
    const own = new ConsulClient(e.clientOptions)
    await own.kv.put('weft/v1/x', 'own')
    const [, store, token] =
      /^weft agent --store (consul:\/\/127\.0\.0\.1:\d+) --join-token (WFTKN-1-\S+)$/.exec(
        e.joinCommand,
      )!
    const joined = new ConsulClient(
      remoteStoreOptions({ address: store!, joinToken: token! }).options,
    )
    expect(entryText((await joined.kv.get('weft/v1/x')).value!)).toBe('own')
    const stranger = new ConsulClient({
      address: e.served.url,
      tls: { ca: e.secret.tls.ca },
      retries: 0,
    })
    expect(((await stranger.kv.get('weft/v1/x').catch((x) => x)) as KvHttpError).status).toBe(403)
  })

  test('a wildcard listener is joined at the advertised address', async () => {
    const e = await embedded('0.0.0.0', 'h2')
    expect(e.joinCommand).toContain(`--store consul://127.0.0.1:${e.served.port} `)
    expect(await new ConsulClient(e.clientOptions).leader()).toStartWith('127.0.0.1:')
  })
})

describe('remoteStoreOptions', () => {
  const token = `WFTKN-1-${'a'.repeat(64)}-${'b'.repeat(64)}`

  test('a join token excludes --store-token and --store-ca, and needs TLS', () => {
    expect(() =>
      remoteStoreOptions({ address: 'consul://h:8500', joinToken: token, token: 't' }),
    ).toThrow(/drop --store-token and --store-ca/)
    expect(() => remoteStoreOptions({ address: 'http://h:8500', joinToken: token })).toThrow(
      /TLS only/,
    )
    expect(remoteStoreOptions({ address: 'consul://h:8500', joinToken: token }).options).toEqual({
      address: 'consul://h:8500',
      token: 'b'.repeat(64),
      tls: { pinnedCaDigest: 'a'.repeat(64) },
    })
  })

  test('a real Consul over https with a --store-ca file', async () => {
    const e = await embedded('127.0.0.1', 'consul-like')
    const caFile = join(dir, 'consul-ca.pem')
    writeFileSync(caFile, e.secret.tls.ca)
    const { options, warnings } = remoteStoreOptions({
      address: `consul://127.0.0.1:${e.served.port}`,
      token: e.secret.token,
      caFile,
    })
    expect(warnings).toEqual([])
    const c = new ConsulClient(options)
    expect(c.address).toBe(`https://127.0.0.1:${e.served.port}`)
    expect(await c.leader()).toStartWith('127.0.0.1:')
  })

  test('an unreadable or empty --store-ca is refused; a token in clear is warned about', () => {
    expect(() =>
      remoteStoreOptions({ address: 'consul://h:8500', caFile: join(dir, 'missing.pem') }),
    ).toThrow(/--store-ca .*missing\.pem: cannot read it \(ENOENT\)/)
    const empty = join(dir, 'empty.pem')
    writeFileSync(empty, 'not a certificate')
    expect(() => remoteStoreOptions({ address: 'consul://h:8500', caFile: empty })).toThrow(
      /holds no PEM certificate/,
    )
    expect(remoteStoreOptions({ address: 'consul://h:8500', token: 't' }).warnings[0]).toContain(
      'sent in clear',
    )
    expect(remoteStoreOptions({ address: 'consul://h:8500' }).warnings[0]).toContain(
      'without a token or TLS',
    )
    expect(remoteStoreOptions({ address: 'https://h:8501', token: 't' }).warnings).toEqual([])
  })
})
