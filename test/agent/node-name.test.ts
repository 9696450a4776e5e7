// One node name, one agent (issue 11.2), with real agents in the harness's namespaces:
// - a second agent on this kernel with a running node's name is refused before it touches
//   anything: the node's pin directory /sys/fs/bpf/weft/<node>/ is flock'ed by its agent;
// - an agent on another host (another advertise address) with a live node's name is refused
//   at start, saying which address holds the name, and the holder's record is untouched;
// - --teardown of a running node is refused the same way (the pins are in use);
// - the same host restarting (same advertise address) takes its name back at once, without
//   waiting for its old lease to expire, and the kernel dropped the dead agent's lock.
// h1 and h2 run the bpf datapath (the pin lock is the bpf datapath's); the impostor on h3 runs
// the kernel datapath so that it shares no pins with h2 and meets the store's refusal.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createTopology, requireRoot, runIn, spawnIn, waitFor, type Topology } from '../harness/index.ts'
import { startAgents, WEFT, type RunningAgent } from './agents.ts'

const TTL = '30s' // longer than any wait below: a name taken back within it was not left to expire

let topo: Topology
let agents: RunningAgent[]

interface NodeView {
  name: string
  alive: boolean
  advertise: string
  started: string
}

const nodeRecord = async (name: string): Promise<NodeView | undefined> =>
  ((await agents[0]!.api('GET', '/v1/nodes')).body as NodeView[]).find((n) => n.name === name)

beforeAll(async () => {
  requireRoot()
  topo = await createTopology({ hosts: 3, containersPerHost: 0 })
  // h3 runs no agent of startAgents: it is the other host the impostor comes from
  agents = await startAgents({ ...topo, hosts: topo.hosts.slice(0, 2) }, { datapath: 'bpf', ttl: TTL })
}, 90_000)

afterAll(async () => {
  await topo?.destroy()
}, 60_000)

/** A one-off `weft agent` run to its exit: code and stderr. */
async function runAgent(ns: string, name: string, advertise: string, extra: string[], env: Record<string, string>) {
  const dir = join(agents[0]!.dataDir, '..', `extra-${name}-${advertise}`)
  const socket = `${dir}.sock`
  const proc = spawnIn(ns, [
    WEFT, 'agent', '--name', name, '--advertise', advertise, '--data', dir, '--api', `unix://${socket}`,
    '--ttl', TTL, '--log-level', 'warn', '--store', `consul://${topo.hosts[0]!.underlay.ip}:8500`, ...extra,
  ], { env })
  topo.track(() => proc.stop(3000))
  const code = await Promise.race([proc.exited, Bun.sleep(30_000).then(() => 'still running after 30 s')])
  // the CLI's own line; the JSON log lines around it may land before or after it
  const error = proc.stderr().split('\n').find((l) => l.startsWith('Error: '))
  return { code, error, socket, dir }
}

describe('one node name, one agent', () => {
  test('a second agent on this kernel with a running node name is refused before it makes anything', async () => {
    const h2 = agents[1]!
    const pinDir = `/sys/fs/bpf/weft/${h2.node}`
    const r = await runAgent(h2.host.ns, h2.node, h2.host.underlay.ip, ['--datapath', 'bpf'], h2.env())
    expect({ code: r.code, error: r.error }).toEqual({
      code: 1,
      error: `Error: another weft agent on this kernel runs as node ${h2.node} (it holds ${pinDir}): give this one another --name, or stop that one first`,
    })
    expect({ socket: existsSync(r.socket), dataDir: existsSync(r.dir) }).toEqual({ socket: false, dataDir: false })
    // the running agent is untouched: its maps are pinned, it is healthy and registered
    expect(existsSync(join(pinDir, 'vx_nets'))).toBe(true)
    expect((await h2.api('GET', '/healthz')).body).toMatchObject({ ok: true })
  }, 60_000)

  test('--teardown of a running node is refused: its pins stay in use', async () => {
    const h2 = agents[1]!
    const pinDir = `/sys/fs/bpf/weft/${h2.node}`
    const r = await runIn(h2.host.ns, [WEFT, 'agent', '--teardown', '--name', h2.node, '--advertise', h2.host.underlay.ip, '--datapath', 'bpf'])
    expect({ code: r.code, error: r.stderr.split('\n').find((l) => l.startsWith('Error: ')) }).toEqual({
      code: 1,
      error: `Error: another weft agent on this kernel runs as node ${h2.node} (it holds ${pinDir}): stop that agent first, then run --teardown`,
    })
    expect(existsSync(join(pinDir, 'vx_nets'))).toBe(true)
    expect((await h2.api('GET', '/healthz')).body).toMatchObject({ ok: true })
  }, 60_000)

  test('an agent on another host with a live node name is refused at start, naming the address that holds it', async () => {
    const h2 = agents[1]!
    const h3 = topo.hosts[2]!
    const before = await nodeRecord(h2.node)
    expect(before).toMatchObject({ alive: true, advertise: h2.host.underlay.ip })
    const r = await runAgent(h3.ns, h2.node, h3.underlay.ip, ['--datapath', 'kernel'], h2.env())
    expect({ code: r.code, error: r.error }).toEqual({
      code: 1,
      error:
        `Error: node name ${h2.node} is held by a live agent at ${h2.host.underlay.ip} (this agent advertises ${h3.underlay.ip}): ` +
        `give this host another --name, or stop the agent at ${h2.host.underlay.ip} and wait for its lease to end`,
    })
    // the holder's record was not taken over, not even for a moment (same start time, same address)
    expect(await nodeRecord(h2.node)).toEqual(before)
    expect((await h2.api('GET', '/healthz')).body).toMatchObject({ ok: true })
  }, 60_000)

  test('the same host restarting takes its name back at once (its old lease still live), and the dead agent left no lock', async () => {
    const h2 = agents[1]!
    const before = (await nodeRecord(h2.node))!
    await h2.kill('SIGKILL') // no deregistration: its lease lives on for the TTL
    expect(await nodeRecord(h2.node)).toMatchObject({ alive: true, started: before.started })
    await h2.restart()
    // (revoking the old lease deletes the record for a moment: wait for the new one)
    await waitFor(async () => ((r) => r !== undefined && r.started !== before.started)(await nodeRecord(h2.node)), {
      what: `${h2.node} to register again (well within its ${TTL} TTL)`,
      timeoutMs: 15_000,
    })
    expect(await nodeRecord(h2.node)).toMatchObject({ alive: true, advertise: h2.host.underlay.ip })
    await waitFor(async () => (await h2.api('GET', '/healthz')).body.ok === true, { what: `${h2.node} healthy`, timeoutMs: 15_000 })
  }, 60_000)
})
