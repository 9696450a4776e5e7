// A restarted agent tells a store that kept its data from one that lost it (issue h46), with real
// agents (dist/weft) on two hosts, real namespaces and a real embedded store:
// - an endpoint of host 1 removed by another hand while host 1's agent is down stays removed:
//   the store's incarnation is the one host 1 remembers, so the record it lacks was deleted, not
//   lost; the follower then unprograms it (veth, sandbox interface, BPF entries) and its address
//   is free for the next connect. Before the fix the re-announce wrote it back.
// - a network removed with its endpoints while host 1 is down: nothing of it is written back.
//   Before the fix its endpoint came back as a record of a network that no longer exists.
// - a store restored from a copy of its own files: the same id, but its revision is behind what
//   host 1's mirror saw, so host 1 writes back the endpoint made after the copy.
// - a store wiped (restarted with an empty data dir) and restored from an export: a new
//   incarnation, so host 1 writes back the endpoint the export lacked (live restore, as before).
// No admin API removes another host's endpoint (a disconnect is refused there) and `network rm`
// refuses a network with endpoints, so "another host" is the store hand (store-hand.ts), writing
// the transactions such a removal writes.
// Datapath: WEFT_TEST_DATAPATH (default bpf).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createDatapath } from '../../src/datapath/index.ts'
import { hostIfnameFor } from '../../src/net/index.ts'
import { keys } from '../../src/cluster/index.ts'
import { createTopology, mustRunIn, ping, waitFor, type Topology } from '../harness/index.ts'
import { WEFT, startAgents, storeJoinToken, type RunningAgent } from './agents.ts'

const DATAPATH = (process.env.WEFT_TEST_DATAPATH ?? 'bpf') as 'bpf' | 'kernel'
const HAND = join(import.meta.dir, 'store-hand.ts')

interface Ep {
  id: string
  ip: string
  ifname: string
  networkId: string
}

describe(`a restart after the store kept or lost its data (${DATAPATH} datapath)`, () => {
  let topo: Topology
  let agents: RunningAgent[]
  let far: Ep
  let networkId: string

  beforeAll(async () => {
    topo = await createTopology({ hosts: 2, containersPerHost: 1 })
    // host 2 serves the store: host 1's agent is the one restarted
    agents = await startAgents(topo, { datapath: DATAPATH, storeHost: 1 })
    const net = await agents[1]!.api('POST', '/v1/networks', {
      name: 'epoch',
      subnet: '10.94.0.0/24',
    })
    expect(net.status).toBe(201)
    networkId = net.body.Id
    far = await connect(1, 'epoch', topo.hosts[1]!.containers[0]!.ns)
  }, 60_000)
  afterAll(async () => {
    await topo.destroy()
  }, 60_000)

  async function connect(host: number, network: string, sandbox: string): Promise<Ep> {
    const r = await agents[host]!.api('POST', `/v1/networks/${network}/connect`, { sandbox })
    expect(r).toMatchObject({ status: 201, body: { status: 'attached' } })
    return r.body as Ep
  }

  /** The store hand, run in host 1's namespace with the store's address and join token. */
  const hand = async (args: string[]) => {
    const storeHost = topo.hosts[1]!
    const env = [
      `WEFT_STORE=consul://${storeHost.underlay.ip}:8500`,
      `WEFT_JOIN_TOKEN=${storeJoinToken(join(agents[1]!.dataDir, '..'), storeHost)}`,
    ]
    return mustRunIn(topo.hosts[0]!.ns, ['env', ...env, process.execPath, HAND, ...args])
  }
  /** Endpoint ids as the store holds them (read by the store hand, not from an agent's mirror). */
  const storedIds = async () => JSON.parse((await hand(['ids'])).stdout) as string[]
  const storedKeys = async (prefix: string) =>
    JSON.parse((await hand(['keys', prefix])).stdout) as string[]

  /**
   * Whether host 1's datapath holds the endpoint as local, read from the kernel: its pinned BPF
   * maps (bpf), its host veth (kernel: the veth on the network's bridge is all there is).
   */
  async function programmed(ep: Ep): Promise<boolean> {
    const h = topo.hosts[0]!
    if (DATAPATH !== 'bpf') return hostVethExists(ep)
    const dp = await createDatapath('bpf', { node: h.node, advertise: h.underlay.ip })
    return (await dp.actual()).localEndpoints.some((e) => e.ip === ep.ip)
  }

  const hostVethExists = async (ep: Ep) =>
    (await mustRunIn(topo.hosts[0]!.ns, ['ip', '-j', 'link', 'show'])).stdout.includes(
      `"${hostIfnameFor(ep.id)}"`,
    )
  const sandboxHas = async (sandbox: string, ifname: string) =>
    (await mustRunIn(sandbox, ['ip', '-j', 'link', 'show'])).stdout.includes(`"${ifname}"`)

  /** Host 1 registered and follows the store again (its healthz says ok). */
  const host1Ready = () =>
    waitFor(async () => (await agents[0]!.api('GET', '/healthz')).body.ok === true, {
      what: "host 1's agent to register and follow the store",
      timeoutMs: 20_000,
      intervalMs: 200,
    })

  const reaches = (from: string, ip: string) =>
    waitFor(async () => (await ping(from, ip, { count: 1, timeoutMs: 500 })).received === 1, {
      what: `ping ${from} -> ${ip}`,
      timeoutMs: 10_000,
    })

  test('an endpoint removed by another hand while its agent was down stays removed, is unprogrammed, and its address is free', async () => {
    const keep = await connect(0, 'epoch', topo.hosts[0]!.containers[0]!.ns)
    const sandbox = (await topo.addContainer(0)).ns
    const removed = await connect(0, 'epoch', sandbox)
    await waitFor(async () => await programmed(removed), { what: 'host 1 to program the endpoint' })

    await agents[0]!.kill('SIGKILL')
    expect((await hand(['remove', networkId, removed.id, removed.ip])).stdout).toContain('removed')
    expect(await storedIds()).not.toContain(removed.id)

    await agents[0]!.restart()
    await host1Ready()
    // the follower unprograms it: host veth, sandbox interface and BPF entries go
    await waitFor(
      async () =>
        (await storedIds()).includes(removed.id) ||
        (!(await hostVethExists(removed)) && !(await programmed(removed))),
      {
        what: 'host 1 to unprogram the removed endpoint (or the re-announce to write it back)',
        timeoutMs: 20_000,
        intervalMs: 200,
      },
    )
    expect(
      await storedIds(),
      'the re-announce wrote back an endpoint removed while the agent was down',
    ).not.toContain(removed.id)
    expect(await storedKeys(keys.ipam(networkId, removed.ip))).toEqual([])
    expect(await hostVethExists(removed)).toBe(false)
    expect(await sandboxHas(sandbox, removed.ifname)).toBe(false)
    expect(await programmed(removed)).toBe(false)
    // the kept endpoint stays, and the address is free for the next connect
    expect(await storedIds()).toContain(keep.id)
    const next = await connect(0, 'epoch', sandbox)
    expect(next.ip).toBe(removed.ip)
    await reaches(sandbox, far.ip)
    await reaches(topo.hosts[0]!.containers[0]!.ns, far.ip)
  }, 120_000)

  test('a network removed with its endpoints while the agent was down: nothing of it is written back', async () => {
    const net = await agents[1]!.api('POST', '/v1/networks', {
      name: 'doomed',
      subnet: '10.95.0.0/24',
    })
    expect(net.status).toBe(201)
    const doomedId: string = net.body.Id
    const sandbox = (await topo.addContainer(0)).ns
    const ep = await connect(0, 'doomed', sandbox)
    await waitFor(async () => await programmed(ep), { what: 'host 1 to program the endpoint' })

    await agents[0]!.kill('SIGKILL')
    expect((await hand(['rm-network', doomedId])).stdout).toContain('removed')

    await agents[0]!.restart()
    await host1Ready()
    await waitFor(
      async () =>
        (await storedIds()).includes(ep.id) ||
        (!(await hostVethExists(ep)) && !(await programmed(ep))),
      {
        what: "host 1 to unprogram the removed network's endpoint (or the re-announce to write it back)",
        timeoutMs: 20_000,
        intervalMs: 200,
      },
    )
    expect(
      await storedIds(),
      'the re-announce wrote back an endpoint of a removed network',
    ).not.toContain(ep.id)
    expect(await storedKeys(keys.endpointsOf(doomedId))).toEqual([])
    expect(await storedKeys(keys.ipamOf(doomedId))).toEqual([])
    expect(await sandboxHas(sandbox, ep.ifname)).toBe(false)
    const nets = await agents[0]!.api('GET', '/v1/networks')
    expect((nets.body as { Name: string }[]).map((n) => n.Name)).not.toContain('doomed')
  }, 120_000)

  test('a store restored from a copy of its own files (older than the writes since) keeps its id but went back in time: the endpoint made after the copy is written back', async () => {
    const storeHost = topo.hosts[1]!
    const kvDb = join(agents[1]!.dataDir, storeHost.node, 'kv.db')
    const copy = join(agents[1]!.dataDir, '..', 'kv-copy')
    // a copy of the store's files, taken while its agent is stopped
    await agents[1]!.kill('SIGTERM')
    mkdirSync(copy)
    for (const f of ['kv.db', 'kv.db-wal'])
      if (existsSync(`${kvDb.slice(0, -5)}${f}`))
        copyFileSync(`${kvDb.slice(0, -5)}${f}`, join(copy, f))
    await agents[1]!.restart()
    await host1Ready()
    const late = await connect(0, 'epoch', (await topo.addContainer(0)).ns)
    // the cluster goes on after the copy: records newer than the copy by more writes than the
    // restart after the restore makes (a few per agent) reach host 1's mirror
    for (let i = 0; i < 8; i++)
      expect(
        (await agents[1]!.api('POST', '/v1/networks', { name: `after-copy-${i}` })).status,
      ).toBe(201)
    await waitFor(
      async () =>
        ((await agents[0]!.api('GET', '/v1/networks')).body as { Name: string }[]).some(
          (n) => n.Name === 'after-copy-7',
        ),
      { what: "host 1's mirror to hear of the networks made after the copy" },
    )
    const before = await storedIds()

    await agents[0]!.kill('SIGKILL')
    await agents[1]!.kill('SIGTERM')
    for (const f of ['kv.db', 'kv.db-wal', 'kv.db-shm'])
      rmSync(`${kvDb.slice(0, -5)}${f}`, { force: true })
    for (const f of ['kv.db', 'kv.db-wal'])
      if (existsSync(join(copy, f))) copyFileSync(join(copy, f), `${kvDb.slice(0, -5)}${f}`)
    await agents[1]!.restart()
    expect(await storedIds(), 'the copy is from before the connect').not.toContain(late.id)

    await agents[0]!.restart()
    await waitFor(async () => (await storedIds()).includes(late.id), {
      what: 'the re-announce to write back the endpoint the restored store lacked',
      timeoutMs: 20_000,
      intervalMs: 200,
    })
    expect((await storedIds()).sort()).toEqual(before.sort())
    await host1Ready()
  }, 120_000)

  test('a store wiped and restored from an export is a new incarnation: the endpoint the export lacked is written back', async () => {
    const storeHost = topo.hosts[1]!
    const env = [`WEFT_JOIN_TOKEN=${storeJoinToken(join(agents[1]!.dataDir, '..'), storeHost)}`]
    const storeUrl = `consul://${storeHost.underlay.ip}:8500`
    const exported = await mustRunIn(topo.hosts[0]!.ns, [
      'env',
      ...env,
      WEFT,
      'store',
      'export',
      '--store',
      storeUrl,
    ])
    const file = join(agents[1]!.dataDir, '..', 'export.json')
    writeFileSync(file, exported.stdout)
    // connected after the export: only host 1's mirror has it once the store is wiped
    const late = await connect(0, 'epoch', (await topo.addContainer(0)).ns)
    const before = await storedIds()
    expect(before).toContain(late.id)

    await agents[0]!.kill('SIGKILL')
    // the store loses its data: its agent restarted with an empty store file
    await agents[1]!.kill('SIGTERM')
    const kvDb = join(agents[1]!.dataDir, storeHost.node, 'kv.db')
    expect(existsSync(kvDb)).toBe(true)
    for (const f of [kvDb, `${kvDb}-wal`, `${kvDb}-shm`]) rmSync(f, { force: true })
    await agents[1]!.restart()
    // restored from the export (forced: the store host's own agent re-announced its endpoint already)
    const imp = await mustRunIn(topo.hosts[0]!.ns, [
      'env',
      ...env,
      WEFT,
      'store',
      'import',
      '--store',
      storeUrl,
      '--force',
      file,
    ])
    expect(imp.stderr).toContain('a new store incarnation')
    expect(await storedIds()).not.toContain(late.id)

    await agents[0]!.restart()
    await waitFor(async () => (await storedIds()).includes(late.id), {
      what: 'the re-announce to write back the endpoint the export lacked',
      timeoutMs: 20_000,
      intervalMs: 200,
    })
    expect((await storedIds()).sort()).toEqual(before.sort())
    await host1Ready()
    await reaches(topo.hosts[0]!.containers[0]!.ns, far.ip)
  }, 120_000)
})
