// Endpoints follow their sandbox (issue 12 item 2) and one sandbox has one identity (issue 11
// item 7), with real agents (dist/weft) on two hosts, real namespaces and processes:
// - `ip netns del` and the exit of the process behind /proc/PID/ns/net release the endpoint
//   cluster-wide within 5 s with no disconnect call: the record and its address leave the
//   store, the peer host unprograms it, the next connect gets the address again;
// - endpoints whose sandbox went while their agent was down are released when it starts;
// - the same namespace named `x`, /run/netns/x, /proc/PID/ns/net and PID is refused with 409;
//   a sandbox with an eth0 of its own gets eth1; --ifname is honoured.
// Datapath: WEFT_TEST_DATAPATH (default bpf).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { statSync } from 'node:fs'
import {
  createTopology,
  mustRunIn,
  ping,
  run,
  runIn,
  waitFor,
  type Topology,
} from '../harness/index.ts'
import { createDatapath } from '../../src/datapath/index.ts'
import { startAgents, type RunningAgent } from './agents.ts'
import { weftAt } from '../cli/weft.ts'

const DATAPATH = (process.env.WEFT_TEST_DATAPATH ?? 'bpf') as 'bpf' | 'kernel'
const RELEASE_WITHIN_MS = 5000

describe(`endpoints follow their sandbox (${DATAPATH} datapath)`, () => {
  let topo: Topology
  let agents: RunningAgent[]
  let far: { ip: string }

  beforeAll(async () => {
    topo = await createTopology({ hosts: 2, containersPerHost: 1 })
    // host 2 serves the store: host 1's agent is the one stopped and started again
    agents = await startAgents(topo, { datapath: DATAPATH, storeHost: 1 })
    expect(
      (await agents[0]!.api('POST', '/v1/networks', { name: 'follow', subnet: '10.89.0.0/24' }))
        .status,
    ).toBe(201)
    far = await connect(1, 'follow', topo.hosts[1]!.containers[0]!.ns)
  }, 60_000)
  afterAll(async () => {
    await topo.destroy()
  }, 60_000)

  async function connect(
    host: number,
    network: string,
    sandbox: string,
    extra: Record<string, unknown> = {},
  ) {
    const r = await agents[host]!.api('POST', `/v1/networks/${network}/connect`, {
      sandbox,
      ...extra,
    })
    expect(r).toMatchObject({ status: 201, body: { status: 'attached' } })
    return r.body as { id: string; ip: string; name: string; ifname: string }
  }

  /** Endpoint ids of every network, as the store holds them (asked through host 2's agent, which serves the store). */
  const storedIds = async (_network?: string) => {
    const r = await agents[1]!.api('GET', '/v1/endpoints')
    if (r.status !== 200) throw new Error(`list endpoints: ${r.status} ${JSON.stringify(r.body)}`)
    return (r.body as { id: string }[]).map((e) => e.id)
  }

  /** Whether the peer host's datapath has `ip` programmed as a remote endpoint (read from the kernel). */
  async function peerHasRemote(host: number, ip: string): Promise<boolean> {
    const h = topo.hosts[host]!
    if (DATAPATH === 'bpf') {
      // the peer's pinned maps, read without starting anything
      const dp = await createDatapath('bpf', { node: h.node, advertise: h.underlay.ip })
      return (await dp.actual()).remoteEndpoints.some((e) => e.ip === ip)
    }
    const r = await mustRunIn(h.ns, ['ip', '-j', 'neigh', 'show', 'nud', 'permanent'])
    return (JSON.parse(r.stdout || '[]') as { dst: string }[]).some((n) => n.dst === ip)
  }

  /** ms until the endpoint is out of the store and unprogrammed on the peer (fails after 5 s). */
  async function released(ep: { id: string; ip: string }, since: number): Promise<number> {
    await waitFor(
      async () => !(await storedIds('follow')).includes(ep.id) && !(await peerHasRemote(1, ep.ip)),
      {
        what: `endpoint ${ep.ip} to be released and unprogrammed on the peer`,
        timeoutMs: RELEASE_WITHIN_MS,
        intervalMs: 50,
      },
    )
    return Date.now() - since
  }

  const reaches = (from: string, ip: string) =>
    waitFor(async () => (await ping(from, ip, { count: 1, timeoutMs: 500 })).received === 1, {
      what: `ping ${from} -> ${ip}`,
      timeoutMs: 10_000,
    })

  /** A process in a network namespace of its own (a container's init), ended at teardown. */
  async function processWithNetns(): Promise<{ pid: number; proc: ReturnType<typeof Bun.spawn> }> {
    const proc = Bun.spawn(['unshare', '--net', 'sleep', '600'], {
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'ignore',
    })
    topo.track(async () => {
      proc.kill('SIGKILL')
      await proc.exited
    })
    const mine = statSync('/proc/self/ns/net').ino
    // unshare execs sleep in the same PID once the namespace is made
    await waitFor(
      () => statSync(`/proc/${proc.pid}/ns/net`, { throwIfNoEntry: false })?.ino !== mine,
      { what: 'unshare to enter its namespace' },
    )
    return { pid: proc.pid, proc }
  }

  test('`ip netns del`: released within 5 s with no disconnect; the peer unprograms it; the next connect gets the address', async () => {
    const x = await topo.addContainer(0)
    const gone = await connect(0, 'follow', x.ns)
    await reaches(x.ns, far.ip)
    await waitFor(() => peerHasRemote(1, gone.ip), { what: 'the peer to program the endpoint' })

    const t0 = Date.now()
    expect((await run(['ip', 'netns', 'del', x.ns])).code).toBe(0)
    const ms = await released(gone, t0)
    console.log(`[sandbox-follow] ip netns del -> released cluster-wide after ${ms} ms`)

    const y = (await topo.addContainer(0)).ns
    const next = await connect(0, 'follow', y)
    expect(next.ip).toBe(gone.ip)
    await reaches(y, far.ip)
    await reaches(topo.hosts[1]!.containers[0]!.ns, next.ip)
  }, 60_000)

  test('the process behind /proc/PID/ns/net exits: released within 5 s; the address is reused', async () => {
    const { pid, proc } = await processWithNetns()
    const gone = await connect(0, 'follow', `/proc/${pid}/ns/net`)
    await waitFor(() => peerHasRemote(1, gone.ip), { what: 'the peer to program the endpoint' })

    const t0 = Date.now()
    proc.kill('SIGKILL')
    await proc.exited
    const ms = await released(gone, t0)
    console.log(`[sandbox-follow] /proc/PID process exit -> released cluster-wide after ${ms} ms`)

    const z = (await topo.addContainer(0)).ns
    expect((await connect(0, 'follow', z)).ip).toBe(gone.ip)
  }, 60_000)

  test('a sandbox deleted while its agent was down is released when the agent starts', async () => {
    const w = await topo.addContainer(0)
    const gone = await connect(0, 'follow', w.ns)
    await agents[0]!.kill('SIGTERM')
    expect((await run(['ip', 'netns', 'del', w.ns])).code).toBe(0)
    // nothing released it while the agent was down
    expect(await storedIds('follow')).toContain(gone.id)
    const t0 = Date.now()
    await agents[0]!.restart()
    const ms = await released(gone, t0)
    console.log(`[sandbox-follow] gone while down -> released ${ms} ms after the restart began`)
  }, 60_000)

  test('one namespace, one identity: `x`, /run/netns/x, /proc/PID/ns/net and PID get one endpoint per network (409)', async () => {
    expect(
      (await agents[0]!.api('POST', '/v1/networks', { name: 'second', subnet: '10.90.0.0/24' }))
        .status,
    ).toBe(201)
    const x = await topo.addContainer(0)
    const inside = Bun.spawn(['ip', 'netns', 'exec', x.ns, 'sleep', '600'], {
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'ignore',
    })
    topo.track(async () => {
      inside.kill('SIGKILL')
      await inside.exited
    })
    const target = statSync(x.nsPath).ino
    await waitFor(
      () => statSync(`/proc/${inside.pid}/ns/net`, { throwIfNoEntry: false })?.ino === target,
      { what: 'the process to enter the namespace' },
    )

    const first = await connect(0, 'follow', x.ns)
    const before = await storedIds('follow')
    for (const alias of [x.nsPath, `/proc/${inside.pid}/ns/net`, String(inside.pid)]) {
      const r = await agents[0]!.api('POST', '/v1/networks/follow/connect', { sandbox: alias })
      expect(r.status).toBe(409)
      expect(r.body).toMatchObject({ error: 'endpoint_exists' })
      expect(r.body.message).toContain(`as ${x.ns}`)
    }
    expect(await storedIds('follow')).toEqual(before)

    // in another network the same namespace gets its next interface; disconnect finds it by any name
    const second = await connect(0, 'second', String(inside.pid))
    expect(second.ifname).toBe('eth1')
    expect((await runIn(x.ns, ['ip', 'link', 'show', 'dev', 'eth1'])).code).toBe(0)
    const d = await agents[0]!.api('POST', '/v1/networks/second/disconnect', { endpoint: x.ns })
    expect(d).toMatchObject({ status: 200, body: { id: second.id } })
    expect((await storedIds('follow')).includes(first.id)).toBe(true)
  }, 60_000)

  test('a sandbox with an eth0 of its own gets eth1; --ifname is used; a taken ifname is 409', async () => {
    const b = await topo.addContainer(0)
    // an eth0 weft did not make (a veth pair kept inside the sandbox)
    await mustRunIn(b.ns, ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0'])
    const ep = await connect(0, 'follow', b.ns)
    expect(ep.ifname).toBe('eth1')
    await reaches(b.ns, far.ip)

    // through the CLI: `weft network connect --ifname data0 second SANDBOX`
    const cli = weftAt(agents[0]!.socket)
    const named = await cli(['network', 'connect', '--ifname', 'data0', 'second', b.ns])
    expect(named).toMatchObject({ code: 0, stdout: expect.stringContaining(' data0 on ') })
    expect((await runIn(b.ns, ['ip', 'link', 'show', 'dev', 'data0'])).code).toBe(0)
    const wrong = await cli([
      'network',
      'connect',
      '--external',
      '--ip',
      '10.90.0.50',
      '--mac',
      '02:00:00:00:00:50',
      '--vtep',
      '192.0.2.50',
      '--ifname',
      'eth9',
      'second',
      'ext',
    ])
    expect(wrong.code).toBe(2)
    expect(wrong.stderr).toContain('--ifname is only for sandboxes')

    expect(
      (await agents[0]!.api('POST', '/v1/networks', { name: 'third', subnet: '10.91.0.0/24' }))
        .status,
    ).toBe(201)
    const r = await agents[0]!.api('POST', '/v1/networks/third/connect', {
      sandbox: b.ns,
      ifname: 'eth0',
    })
    expect(r).toMatchObject({ status: 409, body: { error: 'ifname_taken' } })
  }, 60_000)
})
