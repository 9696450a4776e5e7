// The agent's store and API secrets in its config (issues 11.1 and 11.10), refused before
// anything is created: which secret goes with which store (the embedded store makes its own;
// a join token is for joining another host's and carries the store token and CA), the join
// token's shape wherever it comes from, server lists, and a TCP admin API token too short to
// guard it. In-process, then the built binary: exit 2, no data dir, no socket.
import { afterAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAgentConfig, type AgentFlags } from '../../src/agent/config.ts'
import { WEFT } from '../agent/agents.ts'

const dir = mkdtempSync(join(tmpdir(), 'weft-agent-secrets-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const TOKEN = `WFTKN-1-${'a'.repeat(64)}-${'b'.repeat(64)}`
const STORE = 'consul://192.0.2.1:8500'
const base: AgentFlags = { name: 'n1', advertise: '192.0.2.10' }
const parse = (f: AgentFlags, env: Record<string, string | undefined> = {}) => parseAgentConfig({ ...base, ...f }, env)
const refused = async (f: AgentFlags, env: Record<string, string | undefined> = {}) => {
  try {
    await parse(f, env)
  } catch (e) {
    return (e as Error).message
  }
  throw new Error(`accepted ${JSON.stringify(f)}`)
}

describe('the join token', () => {
  test('from --join-token, --join-token-file or $WEFT_JOIN_TOKEN, for --store consul://', async () => {
    expect((await parse({ store: STORE, 'join-token': TOKEN })).joinToken).toBe(TOKEN)
    const file = join(dir, 'join-token')
    writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 })
    expect((await parse({ store: STORE, 'join-token-file': file })).joinToken).toBe(TOKEN)
    expect((await parse({ store: STORE }, { WEFT_JOIN_TOKEN: TOKEN })).joinToken).toBe(TOKEN)
    expect((await parse({ store: STORE }, { WEFT_JOIN_TOKEN_FILE: file })).joinToken).toBe(TOKEN)
    expect((await parse({ store: STORE })).joinToken).toBeUndefined()
  })

  test('a malformed one is refused, naming where it came from and showing at most its first 12 characters', async () => {
    expect(await refused({ store: STORE, 'join-token': 'WFTKN-1-nothex' })).toStartWith('--join-token WFTKN-1-… is not a weft join token')
    expect(await refused({ store: STORE }, { WEFT_JOIN_TOKEN: 'swarm-token-xyz' })).toStartWith('$WEFT_JOIN_TOKEN "swarm-token-…" is not a weft join token')
  })

  test('goes with neither the embedded store, --store-token, --store-ca nor plain http://', async () => {
    expect(await refused({ 'join-token': TOKEN })).toStartWith("--join-token joins another host's store: give it with --store consul://HOST:8500")
    expect(await refused({ store: STORE, 'join-token': TOKEN, 'store-token': 'acl-token' })).toStartWith('--join-token carries the store token and pins its CA')
    expect(await refused({ store: STORE, 'join-token': TOKEN, 'store-ca': '/etc/ca.pem' })).toStartWith('--join-token carries the store token and pins its CA')
    expect(await refused({ store: 'http://192.0.2.1:8500', 'join-token': TOKEN })).toStartWith(
      '--store http://192.0.2.1:8500 with --join-token: the embedded store speaks TLS only',
    )
  })
})

describe('the embedded store makes its own secrets', () => {
  test('--store-token and --store-ca are refused with it, saying why', async () => {
    expect(await refused({ 'store-token': 'acl-token' })).toBe(
      '--store-token is for a real Consul: the embedded store makes its own token (<data>/join-token); drop --store-token (and WEFT_STORE_TOKEN)',
    )
    expect(await refused({}, { WEFT_STORE_TOKEN: 'acl-token' })).toStartWith('--store-token is for a real Consul')
    expect(await refused({ 'store-ca': '/etc/ca.pem' })).toStartWith('--store-ca is for a real Consul over https')
    // a real Consul takes both
    expect(await parse({ store: 'https://192.0.2.1:8501', 'store-token': 'acl-token', 'store-ca': '/etc/ca.pem' })).toMatchObject({
      storeToken: 'acl-token',
      storeCa: '/etc/ca.pem',
    })
  })
})

describe('--store server lists', () => {
  test('consul://A:8500,B:8500 is one store of several servers; every one must be HOST:PORT', async () => {
    expect((await parse({ store: 'consul://192.0.2.1:8500,192.0.2.2:8500,192.0.2.3:8500' })).store).toEqual({
      kind: 'consul',
      address: 'consul://192.0.2.1:8500,192.0.2.2:8500,192.0.2.3:8500',
    })
    expect(await refused({ store: 'consul://192.0.2.1:8500,' })).toStartWith('--store "consul://192.0.2.1:8500,": empty server in the list')
    expect(await refused({ store: 'consul://192.0.2.1:8500,192.0.2.2' })).toBe('--store "192.0.2.2" must be HOST:PORT')
  })
})

describe('a TCP admin API token that can guard it (11.10)', () => {
  test('a short token is refused in config, with how to make one', async () => {
    expect(await refused({ 'api-tcp': '127.0.0.1:7777', token: 'short' })).toBe(
      '--api-tcp: the API token is 5 characters; it needs at least 16: make one with `openssl rand -hex 32`',
    )
    expect((await parse({ 'api-tcp': '127.0.0.1:7777', token: 'x'.repeat(16) })).apiToken).toBe('x'.repeat(16))
  })

  test('`weft agent --api-tcp … --token short` exits 2 and creates no data dir and no socket; so does --store-token with the embedded store', async () => {
    if (!existsSync(WEFT)) throw new Error('dist/weft is missing: run `bun run compile.ts` first')
    for (const [flags, message] of [
      [['--api-tcp', '127.0.0.1:7779', '--token', 'short'], 'Error: --api-tcp: the API token is 5 characters; it needs at least 16'],
      [['--store-token', 'acl-token'], 'Error: --store-token is for a real Consul'],
      [['--store', STORE, '--join-token', 'not-a-token'], 'Error: --join-token "not-a-token" is not a weft join token'],
    ] as const) {
      const data = join(dir, 'data')
      const socket = join(dir, 'a.sock')
      const proc = Bun.spawn([WEFT, 'agent', '--name', 'n1', '--advertise', '127.0.0.1', '--data', data, '--api', `unix://${socket}`, ...flags], {
        stdout: 'pipe',
        stderr: 'pipe',
        env: { ...process.env, WEFT_TOKEN: undefined, WEFT_JOIN_TOKEN: undefined, WEFT_STORE_TOKEN: undefined },
      })
      const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()])
      expect({ flags, code, stderr: stderr.trim().split('\n')[0]!.slice(0, message.length) }).toEqual({ flags, code: 2, stderr: message })
      expect({ flags, data: existsSync(data), socket: existsSync(socket) }).toEqual({ flags, data: false, socket: false })
    }
  })
})
