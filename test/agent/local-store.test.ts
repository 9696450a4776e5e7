// The store host's agent reaches its own embedded store over a unix socket (issue 17): real
// `weft agent` processes in the harness's host namespaces. h1 serves the store: its own
// requests go over <data>/<name>/local-store/kv.sock (0600, in a 0700 directory), none over TCP
// to itself; the socket still wants the token (only TLS is dropped); h2 joins over TLS as
// before; stopping h1 removes the socket; a data dir too long for a socket path falls back to TLS
// with a warning. (test/kv/local-socket.test.ts covers the listener.)
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createTopology,
  mustRunIn,
  requireRoot,
  spawnIn,
  waitFor,
  type Host,
  type NsProcess,
  type Topology,
} from '../harness/index.ts'
import { WEFT } from './agents.ts'

const DATAPATH = (process.env.WEFT_TEST_DATAPATH ?? 'bpf') as 'bpf' | 'kernel'
const JOIN_LINE =
  /^To join another host to this cluster, run on it: weft agent (--store \S+ --join-token \S+)$/m

let topo: Topology
let root: string
let h1: Host
let h2: Host
let first: NsProcess

const node = (suffix: string) => `${topo.prefix}-${suffix}`
const apiSocket = (suffix: string) => join(root, `${node(suffix)}.sock`)
const storeSocket = () => join(root, node('ls1'), node('ls1'), 'local-store', 'kv.sock')
const mode = (path: string) => (statSync(path).mode & 0o777).toString(8)

function agent(host: Host, suffix: string, args: string[], data = node(suffix)): NsProcess {
  const proc = spawnIn(host.ns, [
    WEFT,
    'agent',
    '--name',
    node(suffix),
    '--advertise',
    host.underlay.ip,
    '--data',
    join(root, data),
    '--api',
    `unix://${apiSocket(suffix)}`,
    '--datapath',
    DATAPATH,
    '--ttl',
    '2s',
    ...args,
  ])
  topo.track(() => proc.stop(3000))
  return proc
}

function waitWithLog<T>(
  proc: NsProcess,
  cond: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs: number,
): Promise<T> {
  return waitFor(cond, { what, timeoutMs }).catch((e: Error) => {
    throw new Error(`${e.message}\nagent stderr:\n${proc.stderr().slice(-2000)}`)
  }) as Promise<T>
}

async function alive(suffix: string, name: string): Promise<boolean> {
  const r = await fetch('http://weft/v1/nodes', { unix: apiSocket(suffix) } as RequestInit).catch(
    () => undefined,
  )
  if (r?.status !== 200) return false
  return ((await r.json()) as { name: string; alive: boolean }[]).some(
    (n) => n.name === name && n.alive,
  )
}

/** Requests h1's store answered on its unix socket, from h1's /metrics. */
async function localRequests(): Promise<number> {
  const r = await fetch('http://weft/metrics', { unix: apiSocket('ls1') } as RequestInit)
  const m = /^weft_store_local_requests (\d+)$/m.exec(await r.text())
  if (!m) throw new Error("h1's /metrics has no weft_store_local_requests")
  return Number(m[1])
}

/** Established TCP connections in h1's namespace to or from the store's port: "peer" addresses. */
async function storeTcpPeers(): Promise<string[]> {
  const r = await mustRunIn(h1.ns, [
    'ss',
    '-Htn',
    'state',
    'established',
    '( sport = :8500 or dport = :8500 )',
  ])
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.trim().split(/\s+/).at(-1)!)
}

const secret = () =>
  readFileSync(join(root, node('ls1'), 'join-token'), 'utf8')
    .trim()
    .split('-')
    .pop()!

beforeAll(async () => {
  requireRoot()
  topo = await createTopology({ hosts: 2, containersPerHost: 0 })
  root = mkdtempSync(join(tmpdir(), `weft-${topo.prefix}-ls-`))
  topo.track(() => rmSync(root, { recursive: true, force: true }))
  ;[h1, h2] = [topo.hosts[0]!, topo.hosts[1]!]
  first = agent(h1, 'ls1', ['--store', 'embedded', '--log-level', 'info'])
  await waitWithLog(first, () => alive('ls1', node('ls1')), 'h1 registered', 20_000)
}, 60_000)

afterAll(async () => {
  await topo?.destroy()
}, 60_000)

describe("the store host's agent and its own embedded store", () => {
  test('its requests go over a 0600 unix socket, none over TCP to itself', async () => {
    expect(statSync(storeSocket()).isSocket()).toBe(true)
    expect(mode(storeSocket())).toBe('600')
    expect(mode(join(root, node('ls1'), node('ls1'), 'local-store'))).toBe('700')
    // registered, following, renewing its session: all of it on the socket
    const before = await localRequests()
    expect(before).toBeGreaterThan(0)
    await waitWithLog(
      first,
      async () => (await localRequests()) > before,
      'h1 to send more requests on the socket (its session renewals)',
      15_000,
    )
    expect(await storeTcpPeers()).toEqual([])
  }, 30_000)

  test('a request over the socket without the token, or with a wrong one, is 403; with it, answered', async () => {
    const at = (headers: Record<string, string>) =>
      fetch('http://local-store/v1/kv/weft/v1/?keys', {
        headers,
        unix: storeSocket(),
      } as RequestInit)
    const none = await at({})
    expect(none.status).toBe(403)
    expect(await none.text()).toStartWith('Permission denied')
    expect((await at({ 'X-Consul-Token': 'not-the-secret' })).status).toBe(403)
    const ok = await at({ 'X-Consul-Token': secret() })
    expect(ok.status).toBe(200)
    expect(await ok.json()).toContain(`weft/v1/nodes/${node('ls1')}`)
  })

  test('another host still joins over TLS with the printed command', async () => {
    const [, args] = JOIN_LINE.exec(first.stderr())!
    expect(args).toStartWith(`--store consul://${h1.underlay.ip}:8500 --join-token WFTKN-1-`)
    const joined = agent(h2, 'ls2', args!.split(' '))
    await waitWithLog(joined, () => alive('ls1', node('ls2')), 'h2 registered with h1', 20_000)
    await waitWithLog(joined, () => alive('ls2', node('ls1')), 'h2 to see h1', 20_000)
    // h2's connections are TLS over the underlay; h1 still has none to itself
    const peers = await storeTcpPeers()
    expect(peers.length).toBeGreaterThan(0)
    for (const p of peers) expect(p).toStartWith(`${h2.underlay.ip}:`)
  }, 60_000)

  test('stopping the agent removes the socket', async () => {
    await first.stop(5000)
    expect(await first.exited).toBe(0)
    expect(existsSync(storeSocket())).toBe(false)
  }, 30_000)

  test('a data dir too long for a unix socket path: the agent warns and reaches its store over TLS', async () => {
    const long = 'd'.repeat(100)
    const proc = agent(h1, 'ls3', ['--store', 'embedded', '--log-level', 'info'], long)
    await waitWithLog(
      proc,
      () => alive('ls3', node('ls3')),
      'h1 (long data dir) registered',
      20_000,
    )
    expect(proc.stderr()).toContain('is too long for a unix socket (107 bytes)')
    expect(existsSync(join(root, long, node('ls3'), 'local-store'))).toBe(false)
    // its own connections, both ends in h1's namespace
    const peers = await storeTcpPeers()
    expect(peers.some((p) => p.startsWith(`${h1.underlay.ip}:`))).toBe(true)
  }, 30_000)
})
