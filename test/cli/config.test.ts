// Agent flags into config, in-process and without root: Docker's daemon spellings, durations,
// node names, tokens from files and the environment, --api. Nothing here starts an agent.
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AGENT_DEFAULTS, parseAgentConfig, type AgentFlags } from '../../src/agent/config.ts'
import { parseDurationMs, parseGoDuration } from '../../src/util/duration.ts'
import { isNodeName } from '../../src/util/names.ts'

const dir = mkdtempSync(join(tmpdir(), 'weft-config-test-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const base: AgentFlags = { name: 'n1', advertise: '192.0.2.10' }
const parse = (f: AgentFlags, env: Record<string, string | undefined> = {}) =>
  parseAgentConfig({ ...base, ...f }, env)
const refused = async (f: AgentFlags, env: Record<string, string | undefined> = {}) => {
  try {
    await parse(f, env)
  } catch (e) {
    return (e as Error).message
  }
  throw new Error(`accepted ${JSON.stringify(f)}`)
}

describe('durations: one parser', () => {
  test('Go syntax, as Consul and Docker write it', () => {
    expect(parseDurationMs('24h')).toBe(86_400_000)
    expect(parseDurationMs('1m30s')).toBe(90_000)
    expect(parseDurationMs('500ms')).toBe(500)
    expect(parseDurationMs('1.5h')).toBe(5_400_000)
    expect(parseGoDuration('0')).toBe(0)
    expect(parseGoDuration('2000ms')).toBe(2e9)
    for (const bad of ['', '10', 's', '1d', '10 s', '1m30'])
      expect({ bad, v: parseDurationMs(bad) }).toEqual({ bad, v: undefined })
  })

  test('--ttl takes every form it advertises, 1s..24h', async () => {
    expect((await parse({ ttl: '24h' })).ttlMs).toBe(86_400_000)
    expect((await parse({ ttl: '1m30s' })).ttlMs).toBe(90_000)
    expect((await parse({})).ttlMs).toBe(parseDurationMs(AGENT_DEFAULTS.ttl)!)
    expect(await refused({ ttl: '25h' })).toBe('--ttl 25h: must be between 1s and 24h')
    expect(await refused({ ttl: '500ms' })).toBe('--ttl 500ms: must be between 1s and 24h')
    expect(await refused({ ttl: 'soon' })).toStartWith('--ttl "soon" must be a duration')
  })
})

describe("Docker's daemon spellings", () => {
  test('--cluster-store is --store', async () => {
    expect((await parse({ 'cluster-store': 'consul://192.0.2.1:8500' })).store).toEqual({
      kind: 'consul',
      address: 'consul://192.0.2.1:8500',
    })
    expect(
      await refused({ store: 'embedded', 'cluster-store': 'consul://192.0.2.1:8500' }),
    ).toStartWith('--store and --cluster-store are the same flag')
    expect((await parse({ 'cluster-store': 'etcd://192.0.2.1:2379,192.0.2.2:2379' })).store).toEqual({
      kind: 'etcd',
      address: 'etcd://192.0.2.1:2379,192.0.2.2:2379',
      endpoints: ['http://192.0.2.1:2379', 'http://192.0.2.2:2379'],
    })
    expect(await refused({ 'cluster-store': 'zk://192.0.2.1:2181' })).toStartWith(
      '--store "zk://192.0.2.1:2181" must be',
    )
    expect(await refused({ store: 'etcd://192.0.2.1' })).toContain('must be HOST:PORT')
  })

  test('--cluster-advertise IP:PORT takes the address and warns that the port is not used', async () => {
    const c = await parse({ advertise: undefined, 'cluster-advertise': '192.0.2.10:2376' })
    expect(c.advertise).toBe('192.0.2.10')
    expect(c.warnings).toHaveLength(1)
    expect(c.warnings[0]).toStartWith(
      '--cluster-advertise 192.0.2.10:2376: using the address part "192.0.2.10"; the port 2376 is not used',
    )
    expect((await parse({ advertise: '192.0.2.10:2376' })).advertise).toBe('192.0.2.10')
    expect(await refused({ 'cluster-advertise': '192.0.2.10:2376' })).toStartWith(
      '--advertise and --cluster-advertise are the same flag',
    )
  })

  test('IFACE:PORT takes the interface address (lo: only read, nothing is changed)', async () => {
    const c = await parse({ advertise: undefined, 'cluster-advertise': 'lo:2376' })
    expect(c.advertise).toBe('127.0.0.1')
    expect(c.warnings[0]).toContain('the port 2376 is not used')
    expect(await refused({ advertise: 'nosuchif0:2376' })).toStartWith(
      '--advertise nosuchif0:2376: no such interface',
    )
  })

  test('no warnings when nothing was adapted', async () => {
    expect((await parse({})).warnings).toEqual([])
  })
})

describe('names, --api', () => {
  test('one node-name rule', async () => {
    expect(isNodeName('host-1.example_a')).toBe(true)
    for (const bad of ['', '-a', 'a b', 'a/b', 'x'.repeat(64)])
      expect({ bad, ok: isNodeName(bad) }).toEqual({ bad, ok: false })
    expect(await refused({ name: 'a/b' })).toStartWith('--name "a/b" must be 1-63 letters')
  })

  test('--api tcp://… says to use --api-tcp instead of making a socket named "tcp:"', async () => {
    expect(await refused({ api: 'tcp://0.0.0.0:2375' })).toStartWith(
      "--api tcp://0.0.0.0:2375: --api is the admin API's unix socket; to serve it on TCP use --api-tcp HOST:PORT",
    )
    expect(await refused({ api: 'relative.sock' })).toStartWith(
      '--api "relative.sock" must be unix:///ABSOLUTE/PATH',
    )
    expect((await parse({ api: 'unix:///tmp/x.sock' })).apiSocket).toBe('/tmp/x.sock')
    expect((await parse({})).apiSocket).toBe(AGENT_DEFAULTS.api.replace('unix://', ''))
  })
})

describe('tokens: flag, file or environment', () => {
  const file = join(dir, 'token')
  writeFileSync(file, 'from-a-file-0123456789\n', { mode: 0o600 })

  test('--token-file and --store-token-file read the file (one line, newline dropped)', async () => {
    const c = await parse({
      'api-tcp': '127.0.0.1:7777',
      'token-file': file,
      store: 'consul://192.0.2.1:8500', // a store token is for a real Consul
      'store-token-file': file,
    })
    expect(c.apiToken).toBe('from-a-file-0123456789')
    expect(c.storeToken).toBe('from-a-file-0123456789')
  })

  test('the environment: WEFT_TOKEN, or WEFT_TOKEN_FILE naming a file', async () => {
    expect((await parse({}, { WEFT_TOKEN: 'env-token' })).apiToken).toBe('env-token')
    expect((await parse({ store: 'consul://192.0.2.1:8500' }, { WEFT_STORE_TOKEN_FILE: file })).storeToken).toBe(
      'from-a-file-0123456789',
    )
    expect((await parse({ token: 'flag-token' }, { WEFT_TOKEN: 'env-token' })).apiToken).toBe(
      'flag-token',
    )
  })

  test('bad token sources are refused, naming the flag', async () => {
    expect(await refused({ token: 'a', 'token-file': file })).toBe(
      '--token and --token-file do not go together: give one',
    )
    expect(await refused({ 'store-token-file': join(dir, 'missing') })).toStartWith(
      `--store-token-file ${join(dir, 'missing')}: cannot read it (ENOENT)`,
    )
    const empty = join(dir, 'empty')
    writeFileSync(empty, '\n')
    expect(await refused({ 'token-file': empty })).toBe(
      `--token-file ${empty} is empty: write the token into it`,
    )
    expect(await refused({ 'api-tcp': '127.0.0.1:7777' })).toStartWith(
      '--api-tcp needs a bearer token: pass --token or set WEFT_TOKEN',
    )
  })
})

describe('the CLI client: token from WEFT_TOKEN or WEFT_TOKEN_FILE', () => {
  test('tcp targets carry the token from either', async () => {
    const { apiTarget } = await import('../../src/cli/client.ts')
    const file = join(dir, 'cli-token')
    writeFileSync(file, 'cli-token-0123456789\n', { mode: 0o600 })
    expect(apiTarget('tcp://192.0.2.1:7777', { WEFT_TOKEN: 'env' }).token).toBe('env')
    expect(apiTarget('tcp://192.0.2.1:7777', { WEFT_TOKEN_FILE: file }).token).toBe(
      'cli-token-0123456789',
    )
    expect(apiTarget('tcp://192.0.2.1:7777', {}).token).toBeUndefined()
    expect(() => apiTarget('tcp://192.0.2.1:7777', { WEFT_TOKEN_FILE: join(dir, 'nope') })).toThrow(
      /^WEFT_TOKEN_FILE .*nope: cannot read it \(ENOENT\)$/,
    )
  })
})
