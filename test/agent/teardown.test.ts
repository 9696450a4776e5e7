// Start and teardown leave nothing behind and tell the truth (issue 11.11), with real agents
// in the harness's host namespaces:
// - a start that fails (UDP 4789 held by another program, the admin API's or the store's TCP
//   port taken) leaves no pins, no (DOWN) wfgro, no nft table, no lock: its BPF programs are
//   fd- or pin-bound, so no pins and no process means no programs either;
// - `--teardown` removes what is there whichever datapath made it (--datapath kernel after a
//   bpf agent, and the reverse), and says what it removed;
// - under `ip netns exec` (its own /sys: bpffs out of sight) it refuses, names what remains and
//   how to run it, and removes nothing; with nsenter it then removes everything;
// - a host switched bpf -> kernel -> bpf in place (no teardown) keeps its endpoints (the same
//   container interfaces, re-plumbed) and its cross-host traffic.
// WEFT_BIN runs another binary (e.g. main's dist/weft, to see these fail on the reproduction).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createTopology,
  mustRunIn,
  ping,
  requireRoot,
  runIn,
  spawnIn,
  waitFor,
  type Host,
  type NsProcess,
  type Topology,
} from '../harness/index.ts'
import { WEFT } from './agents.ts'

const BIN = process.env.WEFT_BIN ?? WEFT
const TOKEN = 'teardown-test-token-0123456789abcdef'

let topo: Topology
let root: string
let h1: Host
let h2: Host
let run = 0

beforeAll(async () => {
  requireRoot()
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`)
  topo = await createTopology({ hosts: 2, containersPerHost: 1 })
  ;[h1, h2] = topo.hosts as [Host, Host]
  root = mkdtempSync(join(tmpdir(), `weft-${topo.prefix}-`))
  topo.track(() => rmSync(root, { recursive: true, force: true }))
  writeFileSync(join(root, 'token'), TOKEN, { mode: 0o600 })
}, 60_000)

afterAll(async () => {
  await topo?.destroy()
}, 60_000)

interface Agent {
  host: Host
  proc: NsProcess
  socket: string
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>
  stop(): Promise<void>
}

/** The `weft agent` arguments for a host: h1 serves the embedded store, h2 joins it. */
function agentArgs(host: Host, datapath: 'bpf' | 'kernel', data: string, extra: string[] = []) {
  const dataDir = join(root, data, host.node)
  return {
    dataDir,
    socket: `${dataDir}.sock`,
    args: [
      BIN,
      'agent',
      '--name',
      host.node,
      '--advertise',
      host.underlay.ip,
      '--data',
      dataDir,
      '--api',
      `unix://${dataDir}.sock`,
      '--datapath',
      datapath,
      '--ttl',
      '2s',
      '--log-level',
      'warn',
      ...(host === h1
        ? ['--store', 'embedded', '--kv-listen', `${h1.underlay.ip}:8500`]
        : ['--store', `consul://${h1.underlay.ip}:8500`]),
      ...extra,
    ],
  }
}

/** Start an agent and wait for its admin API; h2's takes the join token of h1's (same `data`). */
async function startAgent(host: Host, datapath: 'bpf' | 'kernel', data: string): Promise<Agent> {
  const { args, socket } = agentArgs(host, datapath, data)
  const env: Record<string, string> =
    host === h1
      ? {}
      : { WEFT_JOIN_TOKEN: readFileSync(join(root, data, h1.node, 'join-token'), 'utf8').trim() }
  const proc = spawnIn(host.ns, args, { env })
  topo.track(() => proc.stop(3000))
  const api: Agent['api'] = async (method, path, body) => {
    const res = await fetch(`http://weft${path}`, {
      method,
      unix: socket,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    } as RequestInit)
    const text = await res.text()
    let parsed: unknown = text
    try {
      parsed = JSON.parse(text)
    } catch {}
    return { status: res.status, body: parsed }
  }
  const healthy = waitFor(
    async () => (await api('GET', '/healthz').catch(() => ({ status: 0 }))).status === 200,
    { what: `agent ${host.node} (${datapath}) healthy`, timeoutMs: 20_000 },
  )
  const died = proc.exited.then((code) => {
    throw new Error(`agent ${host.node} (${datapath}) exited with code ${code}`)
  })
  healthy.catch(() => {})
  died.catch(() => {})
  await Promise.race([healthy, died]).catch((e: Error) => {
    throw new Error(`${e.message}\nagent stderr:\n${proc.stderr().slice(-3000)}`)
  })
  return { host, proc, socket, api, stop: () => proc.stop(5000) }
}

/** A one-off weft run to its exit (an agent that must fail, or --teardown). */
async function runToExit(
  host: Host,
  args: string[],
  how: 'nsenter' | 'ip netns exec' = 'nsenter',
): Promise<{ code: number | string; stdout: string; stderr: string; error?: string }> {
  const proc =
    how === 'nsenter'
      ? spawnIn(host.ns, args)
      : spawnIn(host.ns, ['ip', 'netns', 'exec', host.ns, ...args]) // nsenter first: a no-op
  topo.track(() => proc.stop(3000))
  const code = await Promise.race([
    proc.exited,
    Bun.sleep(40_000).then(() => 'still running after 40 s'),
  ])
  await proc.stop(3000)
  const error = proc
    .stderr()
    .split('\n')
    .find((l) => l.startsWith('Error: '))
  return { code, stdout: proc.stdout(), stderr: proc.stderr(), error }
}

const teardownArgs = (host: Host, datapath: 'bpf' | 'kernel') => [
  BIN,
  'agent',
  '--teardown',
  '--name',
  host.node,
  '--advertise',
  host.underlay.ip,
  '--datapath',
  datapath,
]

/** What of weft is on a host: its pins, its links (wf…), weft's nft table. */
async function whatIsThere(host: Host) {
  const pinDir = `/sys/fs/bpf/weft/${host.node}`
  const links = JSON.parse((await mustRunIn(host.ns, ['ip', '-j', 'link', 'show'])).stdout) as {
    ifname: string
  }[]
  const nft = await runIn(host.ns, ['nft', 'list', 'table', 'inet', 'weft'])
  return {
    pins: existsSync(pinDir) ? readdirSync(pinDir) : null,
    links: links.map((l) => l.ifname).filter((n) => n.startsWith('wf')),
    nftTable: nft.code === 0,
  }
}
const NOTHING = { pins: null, links: [], nftTable: false }

/** net.ipv4.ip_forward in a host's netns ('0' or '1'); `set` writes it first. */
async function ipForward(host: Host, set?: '0' | '1'): Promise<string> {
  if (set) await mustRunIn(host.ns, ['sysctl', '-qw', `net.ipv4.ip_forward=${set}`])
  return (await mustRunIn(host.ns, ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim()
}

/** A process that holds a port in a host netns until stopped (bun itself, so nothing else is needed). */
async function holdPort(host: Host, proto: 'udp' | 'tcp', hostname: string, port: number) {
  const script =
    proto === 'udp'
      ? `await Bun.udpSocket({ hostname: '${hostname}', port: ${port} }); console.log('held')`
      : `Bun.listen({ hostname: '${hostname}', port: ${port}, socket: { data() {} } }); console.log('held')`
  const proc = spawnIn(host.ns, [process.execPath, '-e', `${script}; setInterval(() => {}, 1e6)`])
  topo.track(() => proc.stop(1000))
  await waitFor(() => proc.stdout().includes('held'), {
    what: `${proto} ${hostname}:${port} held in ${host.ns} (${proc.stderr()})`,
    timeoutMs: 10_000,
  })
  return proc
}

/** A network with one endpoint per host (the first container of each); returns their addresses. */
async function networkWithEndpoints(agents: Agent[]): Promise<string[]> {
  const r = await agents[0]!.api('POST', '/v1/networks', { name: 'blue', subnet: '10.77.0.0/24' })
  expect(r.status).toBe(201)
  const ips: string[] = []
  for (const a of agents) {
    const e = await a.api('POST', '/v1/networks/blue/connect', {
      sandbox: a.host.containers[0]!.ns,
    })
    expect({ status: e.status, state: e.body.status }).toEqual({ status: 201, state: 'attached' })
    ips.push(e.body.ip)
  }
  return ips
}

describe('a failed agent start leaves nothing behind', () => {
  test('UDP 4789 held by another program: the bpf start fails, no pins, no DOWN wfgro, no lock, forwarding as found', async () => {
    expect(await ipForward(h1, '0')).toBe('0')
    const holder = await holdPort(h1, 'udp', '0.0.0.0', 4789)
    const r = await runToExit(h1, agentArgs(h1, 'bpf', `f${++run}`).args)
    await holder.stop()
    expect(r.code).toBe(1)
    expect(r.error).toMatch(/wfgro|GRO/)
    expect(await whatIsThere(h1)).toEqual(NOTHING)
    // the start had turned IPv4 forwarding on (the way out needs it) before wfgro failed
    expect(await ipForward(h1)).toBe('0')
  }, 60_000)

  test('admin API port taken: a start that fails after programming its datapath removes it (and forwarding goes back off)', async () => {
    expect(await ipForward(h1, '0')).toBe('0')
    const holder = await holdPort(h1, 'tcp', h1.underlay.ip, 7999)
    const { args, socket } = agentArgs(h1, 'bpf', `f${++run}`, [
      '--api-tcp',
      `${h1.underlay.ip}:7999`,
      '--token-file',
      join(root, 'token'),
    ])
    const r = await runToExit(h1, args)
    await holder.stop()
    expect(r.code).toBe(1)
    expect(r.error).toMatch(/7999/)
    expect(await whatIsThere(h1)).toEqual(NOTHING)
    expect(existsSync(socket)).toBe(false)
    expect(await ipForward(h1)).toBe('0')
  }, 60_000)

  test("the embedded store's port taken: no pin directory (nor its lock) is left", async () => {
    const holder = await holdPort(h1, 'tcp', h1.underlay.ip, 8500)
    const r = await runToExit(h1, agentArgs(h1, 'bpf', `f${++run}`).args)
    await holder.stop()
    expect(r.code).toBe(1)
    expect(r.error).toMatch(/8500/)
    expect(await whatIsThere(h1)).toEqual(NOTHING)
  }, 60_000)

  test('a failed restart leaves the datapath it found as it was (live restore)', async () => {
    const data = `f${++run}`
    const a = await startAgent(h1, 'bpf', data)
    await networkWithEndpoints([a])
    await a.stop()
    const before = await whatIsThere(h1)
    const holder = await holdPort(h1, 'tcp', h1.underlay.ip, 7999)
    const late = ['--api-tcp', `${h1.underlay.ip}:7999`, '--token-file', join(root, 'token')]
    const again = await runToExit(h1, agentArgs(h1, 'bpf', data, late).args)
    await holder.stop()
    expect(again.code).toBe(1)
    expect(await whatIsThere(h1)).toEqual(before)
    const inside = await mustRunIn(h1.containers[0]!.ns, ['ip', '-o', 'link', 'show', 'eth0'])
    expect(inside.code).toBe(0)
    expect((await runToExit(h1, teardownArgs(h1, 'bpf'))).code).toBe(0)
  }, 90_000)
})

describe('--teardown removes what is there, whichever datapath made it', () => {
  test('--datapath kernel after a bpf agent removes the programs, pins, wfgro, nft table, veths', async () => {
    const a = await startAgent(h1, 'bpf', `t${++run}`)
    await networkWithEndpoints([a])
    await a.stop()
    const before = await whatIsThere(h1)
    expect(before.pins).toContain('vx_nets')
    expect(before.links).toContain('wfgro')
    const r = await runToExit(h1, teardownArgs(h1, 'kernel'))
    expect({ code: r.code, error: r.error }).toEqual({ code: 0, error: undefined })
    expect(r.stdout).toContain(`removed from node ${h1.node}:`)
    expect(r.stdout).toContain('bpf datapath: the underlay program (tcx link on ul0)')
    expect(r.stdout).toContain('bpf datapath: the GRO device wfgro')
    expect(r.stdout).toContain(`bpf datapath: the pins in /sys/fs/bpf/weft/${h1.node}`)
    expect(await whatIsThere(h1)).toEqual(NOTHING)
    // the container's end went with its veth
    const inside = await mustRunIn(h1.containers[0]!.ns, ['ip', '-o', 'link', 'show'])
    expect(inside.stdout).not.toContain('eth0')
    // and a second run finds nothing, and says so
    const again = await runToExit(h1, teardownArgs(h1, 'bpf'))
    expect({ code: again.code, out: again.stdout.trim() }).toEqual({
      code: 0,
      out: `nothing of node ${h1.node}'s datapath was here: nothing removed`,
    })
  }, 90_000)

  test('--datapath bpf after a kernel agent removes its bridge, vxlan device and veths, and the names resolv.conf', async () => {
    const a = await startAgent(h1, 'kernel', `t${++run}`)
    await networkWithEndpoints([a])
    // names points `ip netns exec` in the container at its resolver (src/dns/netns-resolv-conf.ts)
    const resolvConf = `/etc/netns/${h1.containers[0]!.ns}/resolv.conf`
    await waitFor(() => existsSync(resolvConf), { what: `${resolvConf} written` })
    await a.stop()
    expect((await whatIsThere(h1)).links).toContain('wfvx256')
    expect(existsSync(resolvConf)).toBe(true) // a stop keeps it (live restore)
    const r = await runToExit(h1, teardownArgs(h1, 'bpf'))
    expect({ code: r.code, error: r.error }).toEqual({ code: 0, error: undefined })
    expect(r.stdout).toContain('kernel datapath: 1 vxlan device(s): wfvx256')
    expect(r.stdout).toContain('kernel datapath: 1 bridge(s): wfbr256')
    expect(r.stdout).toContain(`names: ${resolvConf}`)
    expect(await whatIsThere(h1)).toEqual(NOTHING)
    expect(existsSync(resolvConf)).toBe(false)
  }, 90_000)

  test('under `ip netns exec` (bpffs hidden) it refuses and removes nothing; with nsenter it removes all', async () => {
    const a = await startAgent(h1, 'bpf', `t${++run}`)
    await networkWithEndpoints([a])
    await a.stop()
    const before = await whatIsThere(h1)
    const r = await runToExit(h1, teardownArgs(h1, 'bpf'), 'ip netns exec')
    expect(r.code).toBe(1)
    expect(r.error).toContain(`cannot tear down node ${h1.node} from here`)
    expect(r.error).toContain(`the host's /sys/fs/bpf/weft/${h1.node} (`)
    expect(r.error).toContain(`nsenter --net=/run/netns/${h1.ns} weft agent --teardown`)
    expect(r.stdout).not.toContain('removed')
    expect(await whatIsThere(h1)).toEqual(before)
    const ok = await runToExit(h1, teardownArgs(h1, 'bpf'))
    expect(ok.code).toBe(0)
    expect(await whatIsThere(h1)).toEqual(NOTHING)
  }, 90_000)
})

describe('switching a host between datapaths works in place', () => {
  test('a kernel agent leaves alone the pins of its name that another host of this kernel holds', async () => {
    // h1's bpf datapath stays programmed after its agent stopped (live restore)
    const a = await startAgent(h1, 'bpf', `s${++run}`)
    await a.stop()
    const before = await whatIsThere(h1)
    expect(before.pins).toContain('vx_cfg')
    // on h2 (another netns, another VTEP), a kernel agent with h1's node name and a store of its own
    const dataDir = join(root, `s${run}`, 'other')
    const proc = spawnIn(h2.ns, [
      BIN,
      'agent',
      '--name',
      h1.node,
      '--advertise',
      h2.underlay.ip,
      '--data',
      dataDir,
      '--api',
      `unix://${dataDir}.sock`,
      '--datapath',
      'kernel',
      '--log-level',
      'warn',
    ])
    topo.track(() => proc.stop(3000))
    await waitFor(
      async () =>
        (
          await fetch('http://weft/healthz', { unix: `${dataDir}.sock` } as RequestInit).catch(
            () => ({ status: 0 }),
          )
        ).status === 200,
      { what: `kernel agent on ${h2.ns} named ${h1.node}`, timeoutMs: 20_000 },
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${proc.stderr().slice(-2000)}`)
    })
    await proc.stop(5000)
    expect(proc.stderr()).not.toContain('switched this host')
    expect(await whatIsThere(h1)).toEqual(before)
    expect((await runToExit(h1, teardownArgs(h1, 'bpf'))).code).toBe(0)
    expect(await whatIsThere(h1)).toEqual(NOTHING)
  }, 90_000)

  test('bpf -> kernel -> bpf without teardown: the same endpoints, re-plumbed, ping across hosts', async () => {
    const data = `s${++run}`
    let agents = [await startAgent(h1, 'bpf', data), await startAgent(h2, 'bpf', data)]
    const [ip1, ip2] = await networkWithEndpoints(agents)
    const c1 = h1.containers[0]!.ns
    const eth0 = async () =>
      JSON.parse((await mustRunIn(c1, ['ip', '-j', 'link', 'show', 'eth0'])).stdout)[0].ifindex
    const pings = (what: string) =>
      waitFor(async () => (await ping(c1, ip2!, { count: 1, timeoutMs: 500 })).received === 1, {
        what,
        timeoutMs: 20_000,
      })
    await pings('ping h1 -> h2 over bpf')
    const ifindex = await eth0()
    for (const datapath of ['kernel', 'bpf'] as const) {
      for (const a of agents) await a.stop()
      agents = [await startAgent(h1, datapath, data), await startAgent(h2, datapath, data)]
      await pings(`ping h1 -> h2 after the switch to ${datapath}`)
      // the container kept its interface and address: adopted, not made anew
      expect(await eth0()).toBe(ifindex)
      const eps = (await agents[0]!.api('GET', '/v1/networks/blue')).body
      expect(JSON.stringify(eps)).toContain(ip1!)
      const there = await whatIsThere(h1)
      if (datapath === 'kernel') {
        expect({ pins: there.pins, gro: there.links.includes('wfgro') }).toEqual({
          pins: null,
          gro: false,
        })
        expect(there.links).toContain('wfvx256')
      } else {
        expect(there.links).toContain('wfgro')
        expect(there.links.filter((l) => /^wf(vx|br)\d/.test(l))).toEqual([])
      }
      expect(agents[0]!.proc.stderr()).toContain(
        `switched this host from the ${datapath === 'kernel' ? 'bpf' : 'kernel'} datapath in place`,
      )
    }
    for (const a of agents) await a.stop()
    for (const h of [h1, h2]) expect((await runToExit(h, teardownArgs(h, 'bpf'))).code).toBe(0)
  }, 180_000)
})
