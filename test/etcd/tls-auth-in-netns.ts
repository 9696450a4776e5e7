// Run by test/etcd/tls-auth.test.ts inside the namespace of an etcd member that serves TLS
// with client-certificate auth, and of a plain one: EtcdStore over etcds:// with a CA and a
// client certificate, clear refusals without them; etcd user/password auth (USER:PASSWORD as
// the token) on the plain member, and the clear refusal of users with client certificates.
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { EtcdStore } from '../../src/store/etcd/index.ts'
import type { WatchEvent } from '../../src/store/index.ts'

const dir = process.env.WEFT_TEST_ETCD_TLS_DIR
const endpoint = process.env.WEFT_TEST_ETCD
const plain = process.env.WEFT_TEST_ETCD_PLAIN!
if (!dir || !endpoint || !plain)
  throw new Error(
    'WEFT_TEST_ETCD, WEFT_TEST_ETCD_PLAIN and WEFT_TEST_ETCD_TLS_DIR are not set: run test/etcd/tls-auth.test.ts, which starts etcd and runs this file',
  )
const pem = (f: string) => readFileSync(join(dir, f), 'utf8')
const tls = { ca: pem('ca.pem'), cert: pem('client.pem'), key: pem('client.key') }

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await Bun.sleep(10)
  }
}

describe('etcds:// with a CA and a client certificate', () => {
  test('reads, transactions, leases and the watch work over TLS', async () => {
    const s = new EtcdStore({ endpoints: [endpoint], tls })
    expect(s.address).toBe(`etcds://${endpoint.replace('https://', '')}`)
    const events: WatchEvent[] = []
    const w = s.watch('tls/', (e) => void events.push(e))
    try {
      const put = await s.txn([{ op: 'put', key: 'tls/a', value: 'one', ifRevision: 0n }])
      expect(put.ok).toBe(true)
      expect((await s.get('tls/a'))?.value).toBe('one')
      await until(
        () =>
          events.some((e) =>
            (e.kind === 'snapshot' ? e.entries : e.put).some((x) => x.key === 'tls/a'),
          ),
        'the watch to see tls/a',
      )
      const lease = await s.leases.grant({ name: 'tls-node', ttlMs: 5000 })
      expect(await s.leases.claim('tls/node', 'n', lease)).toBe(true)
      await s.leases.revokeNamed('tls-node')
      expect(await s.get('tls/node')).toBeUndefined()
    } finally {
      w.stop()
      await w.done
    }
  })

  test('without the client certificate, or trusting another CA, the store is unreachable and says why', async () => {
    const noCert = new EtcdStore({ endpoints: [endpoint], tls: { ca: tls.ca } })
    const e1 = await noCert.get('tls/a').catch((e) => e)
    expect(e1.name).toBe('StoreUnreachableError')
    expect(e1.message).toContain(endpoint.replace('https://', ''))
    const systemCas = new EtcdStore({
      endpoints: [endpoint],
      tls: { cert: tls.cert, key: tls.key },
    })
    const e2 = await systemCas.get('tls/a').catch((e) => e)
    expect(e2.name).toBe('StoreUnreachableError')
    expect(e2.message).toMatch(/certificate|CERT|self.signed|issuer/i)
  })
})

describe('etcd user authentication (--store-token USER:PASSWORD)', () => {
  const enableAuth = async (url: string, init: object) => {
    const call = async (path: string, body: unknown) => {
      const r = await fetch(`${url}${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
        ...init,
      } as RequestInit)
      const j = (await r.json()) as { error?: string }
      if (j.error) throw new Error(`${path}: ${j.error}`)
    }
    await call('/v3/auth/user/add', { name: 'root', password: 'root-pw' })
    await call('/v3/auth/role/add', { name: 'root' })
    await call('/v3/auth/user/grant', { user: 'root', role: 'root' })
    await call('/v3/auth/enable', {})
  }

  test('with auth enabled, the right password works and a wrong one is refused by name', async () => {
    await enableAuth(plain, {})
    const s = new EtcdStore({ endpoints: [plain], token: 'root:root-pw' })
    const put = await s.txn([{ op: 'put', key: 'auth/a', value: 'yes' }])
    expect(put.ok).toBe(true)
    expect((await s.get('auth/a'))?.value).toBe('yes')
    const lease = await s.leases.grant({ name: 'auth-node', ttlMs: 5000 })
    expect(await s.leases.claim('auth/node', 'n', lease)).toBe(true)
    const anonymous = await new EtcdStore({ endpoints: [plain] }).get('auth/a').catch((x) => x)
    expect(anonymous.message).toMatch(/user name is empty|permission denied|authentication/i)
    const wrong = await new EtcdStore({ endpoints: [plain], token: 'root:nope' })
      .get('auth/a')
      .catch((x) => x)
    expect(wrong.message).toMatch(/etcd user root: .*authentication failed.*check the store token/)
    expect(() => new EtcdStore({ endpoints: [plain], token: 'no-colon' })).toThrow(/USER:PASSWORD/)
  })

  test('user auth with a member that requires client certificates: refused, saying to pick one', async () => {
    await enableAuth(endpoint, { tls })
    const e = await new EtcdStore({ endpoints: [endpoint], tls, token: 'root:root-pw' })
      .get('tls/a')
      .catch((x) => x)
    expect(e.message).toMatch(/use either a client certificate .* or etcd users/)
  })
})
