// The join flow at the agent level (issue 11.1), real `weft agent` processes in the harness's
// host namespaces. h1's agent serves the embedded store: it makes the CA and the join token
// (<data>/join-token, 0600) and prints the join command. From h2, first a stranger on the
// underlay (no weft, no secret) can neither read nor write the store, and the cluster is as
// it was; then h2 runs the printed command and joins; it keeps the token, so its restart needs
// none. A wrong or missing token is a configuration error in the joining agent's log, it never
// registers, and a wrong token is not kept. Rotating the token (the first host drops
// <data>/join-token and restarts) needs the new token on joined hosts, which replaces the kept one.
// A capture on h1's underlay port holds none of the secrets in clear. (test/kv/secure-underlay.test.ts
// does the same at the store level.)
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
const probe = join(import.meta.dir, '..', 'kv', 'fixtures', 'store-probe.ts')
const JOIN_LINE =
  /^To join another host to this cluster, run on it: (weft agent --store consul:\/\/\S+ --join-token (WFTKN-1-[0-9a-f]{64}-[0-9a-f]{64}))$/m

let topo: Topology
let root: string
let h1: Host
let h2: Host
let first: NsProcess
let capture: NsProcess
/** Every join token the first agent printed (it rotates below): none may cross the underlay in clear. */
const printedTokens: string[] = []
/** Every TCP segment through h1's port on the underlay bridge (frames between bridge ports never show on br0). */
const pcap = () => join(root, 'underlay.pcap')

/** Node names carry the topology's prefix: the harness removes their pins on teardown. */
const node = (suffix: string) => `${topo.prefix}-${suffix}`

/** `weft agent` on a host of the topology with its own data dir and socket; stopped on teardown. */
function agent(
  host: Host,
  suffix: string,
  args: string[],
  o: { env?: Record<string, string>; data?: string } = {},
): { proc: NsProcess; dataDir: string; socket: string } {
  const name = node(suffix)
  const dataDir = join(root, o.data ?? name)
  const socket = join(root, `${o.data ?? name}.sock`)
  const proc = spawnIn(
    host.ns,
    [
      WEFT,
      'agent',
      '--name',
      name,
      '--advertise',
      host.underlay.ip,
      '--data',
      dataDir,
      '--api',
      `unix://${socket}`,
      '--datapath',
      DATAPATH,
      '--ttl',
      '2s',
      ...args,
    ],
    { env: o.env ?? {} },
  )
  topo.track(() => proc.stop(3000))
  return { proc, dataDir, socket }
}

async function nodes(
  socket: string,
): Promise<{ name: string; alive: boolean; advertise: string }[]> {
  const r = await fetch('http://weft/v1/nodes', { unix: socket } as RequestInit)
  if (r.status !== 200) throw new Error(`GET /v1/nodes: ${r.status} ${await r.text()}`)
  return (await r.json()) as never
}

/**
 * The token a joined agent kept: it writes the file once its registration's answer is back
 * (onRegistered), which can be a moment after the store already lists the node.
 */
function keptToken(proc: NsProcess, dataDir: string, before?: string): Promise<string> {
  const path = join(dataDir, 'join-token')
  return waitWithLog(
    proc,
    () => {
      const now = existsSync(path) && readFileSync(path, 'utf8').trim()
      return now !== before && now
    },
    before === undefined ? `${path} written` : `${path} rewritten`,
    10_000,
  )
}

/** waitFor, and on a timeout the agent's stderr as it is then. */
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

/** The agent's own word: registered with the store, the store reachable (not its mirror of an earlier run). */
const healthy = async (socket: string) =>
  (
    (await fetch('http://weft/healthz', { unix: socket } as RequestInit).then(
      (r) => r.json(),
      () => ({}),
    )) as { ok?: boolean }
  ).ok === true

const alive = async (socket: string, name: string) =>
  (await nodes(socket).catch(() => [])).some((n) => n.name === name && n.alive)
const mode = (path: string) => (statSync(path).mode & 0o777).toString(8)
const h1Socket = () => join(root, `${node('sj1')}.sock`)

beforeAll(async () => {
  requireRoot()
  topo = await createTopology({ hosts: 2, containersPerHost: 0 })
  root = mkdtempSync(join(tmpdir(), `weft-${topo.prefix}-join-`))
  topo.track(() => rmSync(root, { recursive: true, force: true }))
  ;[h1, h2] = [topo.hosts[0]!, topo.hosts[1]!]
  capture = spawnIn(topo.underlayNs, [
    'tcpdump',
    '-i',
    'p1',
    '--immediate-mode',
    '-U',
    '-n',
    '-s',
    '0',
    '-w',
    pcap(),
    'tcp port 8500',
  ])
  topo.track(() => capture.stop())
  await waitFor(() => capture.stderr().includes('listening on p1'), {
    what: "tcpdump to listen on h1's underlay port",
    timeoutMs: 10_000,
  })
  first = agent(h1, 'sj1', ['--store', 'embedded', '--log-level', 'info']).proc
  await waitWithLog(
    first,
    () => JOIN_LINE.test(first.stderr()),
    "h1's agent to print the join command",
    20_000,
  )
  printedTokens.push(JOIN_LINE.exec(first.stderr())![2]!)
  await waitFor(() => alive(h1Socket(), node('sj1')), { what: 'h1 registered', timeoutMs: 15_000 })
}, 60_000)

afterAll(async () => {
  await topo?.destroy()
}, 60_000)

describe('joining the embedded store, secure by default', () => {
  test('the first agent keeps the join token in <data>/join-token (0600) and prints the exact join command, in a human line and in its log', () => {
    const [, command, token] = JOIN_LINE.exec(first.stderr())!
    expect(command).toBe(`weft agent --store consul://${h1.underlay.ip}:8500 --join-token ${token}`)
    const tokenFile = join(root, node('sj1'), 'join-token')
    expect(readFileSync(tokenFile, 'utf8').trim()).toBe(token!)
    expect(mode(tokenFile)).toBe('600')
    expect(mode(join(root, node('sj1'), 'store-ca.pem'))).toBe('600')
    const logged = first
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; joinCommand?: string })
      .find((l) => l.joinCommand)
    expect(logged).toMatchObject({
      joinCommand: command,
      msg: `to join another host, run: ${command}`,
    })
  })

  test('a stranger on the underlay without the secret can neither read nor write the store, and nothing changed', async () => {
    const before = await nodes(h1Socket())
    const r = await mustRunIn(h2.ns, [
      process.execPath,
      probe,
      'stranger',
      `https://${h1.underlay.ip}:8500`,
    ])
    const statuses = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>
    expect(Object.keys(statuses)).toHaveLength(6)
    for (const [what, status] of Object.entries(statuses))
      expect({ what, status }).toEqual({ what, status: 403 })
    // plain http gets no answer from a TLS listener (no store request is served in clear)
    const plain = await mustRunIn(h2.ns, [
      process.execPath,
      '-e',
      `const r = await fetch('http://${h1.underlay.ip}:8500/v1/kv/weft/v1/?recurse').then((r) => String(r.status), (e) => 'refused: ' + e.message); console.log(r)`,
    ])
    expect(plain.stdout.trim()).not.toMatch(/^2\d\d$/)
    expect(await nodes(h1Socket())).toEqual(before)
  }, 30_000)

  test('a joining agent without the token never registers, and its log says to pass the join token', async () => {
    // h2's node, as the join below (one node per host namespace), with a data dir of its own
    const { proc } = agent(
      h2,
      'sj2',
      ['--store', `consul://${h1.underlay.ip}:8500`, '--log-level', 'warn'],
      { data: 'notoken' },
    )
    const line = await waitWithLog(
      proc,
      () =>
        proc
          .stderr()
          .split('\n')
          .find((l) => l.includes('no join token')),
      "the hint in the agent's log",
      15_000,
    )
    expect(JSON.parse(line)).toMatchObject({
      level: 40,
      msg: expect.stringContaining('pass the join token its first agent printed (--join-token'),
    })
    // plain http to the TLS-only store: every registration attempt fails, none gets through
    await waitWithLog(
      proc,
      () =>
        proc
          .stderr()
          .split('\n')
          .filter((l) => l.includes('node registration failed')).length >= 2,
      'two failed registrations',
      15_000,
    )
    expect(await alive(h1Socket(), node('sj2'))).toBe(false)
    await proc.stop(3000)
  }, 30_000)

  test('a join token that pins another CA: the agent sends nothing and logs a configuration error', async () => {
    const [, , token] = JOIN_LINE.exec(first.stderr())!
    const otherCa = `WFTKN-1-${'0'.repeat(64)}-${token!.slice(-64)}`
    const { proc, dataDir } = agent(
      h2,
      'sj2',
      ['--store', `consul://${h1.underlay.ip}:8500`, '--log-level', 'warn'],
      {
        env: { WEFT_JOIN_TOKEN: otherCa },
        data: 'wrongca',
      },
    )
    const line = await waitWithLog(
      proc,
      () =>
        proc
          .stderr()
          .split('\n')
          .find((l) =>
            l.includes(
              'configuration error: the store is not the one this agent was told to trust',
            ),
          ),
      "the identity error in the agent's log",
      15_000,
    )
    expect(JSON.parse(line)).toMatchObject({
      level: 50,
      err: expect.stringContaining('holds no CA with the digest the join token pins'),
    })
    expect(await alive(h1Socket(), node('sj2'))).toBe(false)
    await proc.stop(3000)
    // a token the store never accepted is not kept (a corrected one must not be refused as another cluster's)
    expect(existsSync(join(dataDir, 'join-token'))).toBe(false)
  }, 30_000)

  test('a join token of the right CA with a wrong secret: the store refuses it (403), a configuration error, not kept', async () => {
    const [, , token] = JOIN_LINE.exec(first.stderr())!
    const wrongSecret = `${token!.slice(0, -64)}${'f'.repeat(64)}`
    const { proc, dataDir } = agent(
      h2,
      'sj2',
      ['--store', `consul://${h1.underlay.ip}:8500`, '--log-level', 'warn'],
      {
        env: { WEFT_JOIN_TOKEN: wrongSecret },
        data: 'wrongsecret',
      },
    )
    const line = await waitWithLog(
      proc,
      () =>
        proc
          .stderr()
          .split('\n')
          .find((l) => l.includes('configuration error: the store refused this agent')),
      "the refusal in the agent's log",
      15_000,
    )
    expect(JSON.parse(line)).toMatchObject({ level: 50, err: expect.stringContaining('HTTP 403') })
    expect(await alive(h1Socket(), node('sj2'))).toBe(false)
    await proc.stop(3000)
    expect(existsSync(join(dataDir, 'join-token'))).toBe(false)
  }, 30_000)

  test('with the printed join command a new host joins; it keeps the token (0600), and its restart needs no flag', async () => {
    const [, command] = JOIN_LINE.exec(first.stderr())!
    const printed = command!.split(' ').slice(2) // after "weft agent"
    const joined = agent(h2, 'sj2', printed)
    await waitWithLog(joined.proc, () => alive(h1Socket(), node('sj2')), 'h2 to join', 20_000)
    expect((await nodes(h1Socket())).find((n) => n.name === node('sj2'))?.advertise).toBe(
      h2.underlay.ip,
    )
    const kept = join(joined.dataDir, 'join-token')
    expect(await keptToken(joined.proc, joined.dataDir)).toBe(printed[printed.length - 1]!)
    expect(mode(kept)).toBe('600')
    // a joined host prints no join command of its own: it serves no store
    expect(joined.proc.stderr()).not.toMatch(JOIN_LINE)
    await joined.proc.stop(3000)
    const again = agent(h2, 'sj2', ['--store', `consul://${h1.underlay.ip}:8500`])
    await waitWithLog(
      again.proc,
      () => healthy(again.socket),
      'h2 to register again without a token',
      20_000,
    )
    expect(again.proc.stderr()).not.toContain('no join token')
    await again.proc.stop(3000)
  }, 60_000)

  test('rotating: the first host drops its join token and restarts; a joined host needs the new one, which replaces the kept one', async () => {
    const [, , oldToken] = JOIN_LINE.exec(first.stderr())!
    await first.stop(3000)
    rmSync(join(root, node('sj1'), 'join-token'))
    first = agent(h1, 'sj1', ['--store', 'embedded', '--log-level', 'info']).proc
    const [, , newToken] = await waitWithLog(
      first,
      () => JOIN_LINE.exec(first.stderr()) ?? undefined,
      'the new join command',
      20_000,
    )
    expect(newToken!.slice(0, 72)).toBe(oldToken!.slice(0, 72)) // same CA digest
    expect(newToken).not.toBe(oldToken)
    printedTokens.push(newToken!)
    // the joined host's kept (old) token is refused now
    const stale = agent(h2, 'sj2', [
      '--store',
      `consul://${h1.underlay.ip}:8500`,
      '--log-level',
      'warn',
    ])
    await waitWithLog(
      stale.proc,
      () => stale.proc.stderr().includes('configuration error: the store refused this agent'),
      'the old token refused',
      15_000,
    )
    await stale.proc.stop(3000)
    const renewed = agent(h2, 'sj2', ['--store', `consul://${h1.underlay.ip}:8500`], {
      env: { WEFT_JOIN_TOKEN: newToken! },
    })
    await waitWithLog(
      renewed.proc,
      () => healthy(renewed.socket),
      'h2 to join with the new token',
      20_000,
    )
    expect(await keptToken(renewed.proc, renewed.dataDir, oldToken)).toBe(newToken!)
    await renewed.proc.stop(3000)
  }, 60_000)

  test("a capture of the agents' store traffic holds no secret in clear (and would: the token-less agent's plain http shows)", async () => {
    const secrets = printedTokens.map((t) => t.slice(-64))
    expect(secrets).toHaveLength(2)
    // positive control: the agent that had no token spoke plain http, its requests are readable
    const plainRequest = `/v1/kv/weft/v1/nodes/${node('sj2')}`
    await waitFor(() => readFileSync(pcap()).includes(plainRequest), {
      what: 'the plain-http attempts in the capture',
      timeoutMs: 10_000,
    })
    await capture.stop()
    const bytes = readFileSync(pcap())
    expect(bytes.length).toBeGreaterThan(20_000) // the joins' TLS traffic is in it too
    for (const needle of [...secrets, 'f'.repeat(64), 'X-Consul-Token', 'WFTKN-1-'])
      expect({ needle: needle.slice(0, 16), found: bytes.includes(needle) }).toEqual({
        needle: needle.slice(0, 16),
        found: false,
      })
  }, 30_000)
})
