// The re-announce of a restarted agent (issue h28), with real agents (dist/weft) on two hosts,
// real namespaces and a real embedded store:
// - a restarted agent writes back the endpoints of its local mirror the store lost (live
//   restore after a store loss) before it follows the store;
// - what the agent itself removed in that window — an admin API disconnect right after the
//   start, the release of a sandbox deleted while the agent was down — is not written back:
//   its scoped follower had not synced the network, so the removal never reached the mirror
//   the re-announce reads.
// The window is held open by a test hand on the store (store-hand.ts) that holds the node's
// name under another lease: the agent answers its API, reaches the store, but cannot register
// (and so has not re-announced) until the hand lets go. Before the fix the disconnect was
// written back (the sandbox's release was already kept out by the re-announce's own check of
// gone sandboxes; it is here so that stays so).
// Datapath: WEFT_TEST_DATAPATH (default bpf).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import {
  createTopology,
  mustRunIn,
  ping,
  run,
  spawnIn,
  waitFor,
  type NsProcess,
  type Topology,
} from '../harness/index.ts'
import { startAgents, storeJoinToken, type RunningAgent } from './agents.ts'

const DATAPATH = (process.env.WEFT_TEST_DATAPATH ?? 'bpf') as 'bpf' | 'kernel'
const HAND = join(import.meta.dir, 'store-hand.ts')

describe(`re-announce after a restart (${DATAPATH} datapath)`, () => {
  let topo: Topology
  let agents: RunningAgent[]
  let far: { id: string; ip: string }
  let networkId: string

  beforeAll(async () => {
    topo = await createTopology({ hosts: 2, containersPerHost: 1 })
    // host 2 serves the store: host 1's agent is the one restarted
    agents = await startAgents(topo, { datapath: DATAPATH, storeHost: 1 })
    const net = await agents[0]!.api('POST', '/v1/networks', {
      name: 'reann',
      subnet: '10.93.0.0/24',
    })
    expect(net.status).toBe(201)
    networkId = net.body.Id
    far = await connect(1, topo.hosts[1]!.containers[0]!.ns)
  }, 60_000)
  afterAll(async () => {
    await topo.destroy()
  }, 60_000)

  async function connect(host: number, sandbox: string) {
    const r = await agents[host]!.api('POST', '/v1/networks/reann/connect', { sandbox })
    expect(r).toMatchObject({ status: 201, body: { status: 'attached' } })
    return r.body as { id: string; ip: string; name: string }
  }

  /** Endpoint ids as the store holds them (read by the store hand, not from an agent's mirror). */
  const storedIds = async (): Promise<string[]> => {
    const r = await runHand(['ids'])
    return JSON.parse(r.stdout) as string[]
  }

  /** Endpoints host 1's datapath programs as its own (its /metrics). */
  const localProgrammed = async () => {
    const res = await fetch('http://weft/metrics', { unix: agents[0]!.socket } as RequestInit)
    const m = /^weft_endpoints\{kind="local"\} (\d+)$/m.exec(await res.text())
    return m ? Number(m[1]) : -1
  }

  /** The store hand, run in host 1's namespace with the store's address and join token. */
  const hand = (args: string[]) => {
    const storeHost = topo.hosts[1]!
    const env = {
      WEFT_STORE: `consul://${storeHost.underlay.ip}:8500`,
      WEFT_JOIN_TOKEN: storeJoinToken(join(agents[1]!.dataDir, '..'), storeHost),
      WEFT_TEST_DATAPATH: DATAPATH,
    }
    return { cmd: [process.execPath, HAND, ...args], env }
  }
  const runHand = (args: string[]) => {
    const { cmd, env } = hand(args)
    const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`)
    return mustRunIn(topo.hosts[0]!.ns, ['env', ...vars, ...cmd])
  }

  test('removals the restarted agent made before it synced stay removed; what the store lost is written back', async () => {
    const h1 = topo.hosts[0]!
    const keep = await connect(0, topo.hosts[0]!.containers[0]!.ns)
    const byApi = (await topo.addContainer(0)).ns
    const disconnected = await connect(0, byApi)
    const gone = await topo.addContainer(0)
    const released = await connect(0, gone.ns)
    const before = await storedIds()
    expect(before).toEqual([far.id, keep.id, disconnected.id, released.id].sort())

    await agents[0]!.kill('SIGKILL')
    // while the agent is down: a sandbox goes, and the store loses one record (as a store
    // restarted without state loses them all) that the agent's mirror still holds
    expect((await run(['ip', 'netns', 'del', gone.ns])).code).toBe(0)
    expect((await runHand(['forget', networkId, keep.id, keep.ip])).stdout).toContain('forgotten')
    expect(await storedIds()).not.toContain(keep.id)

    const held = hand(['hold', h1.node, h1.underlay.ip])
    const hold: NsProcess = spawnIn(h1.ns, held.cmd, { env: held.env })
    topo.track(() => hold.stop(3000))
    let handExited: number | undefined
    void hold.exited.then((code) => (handExited = code))
    await waitFor(
      () => {
        if (handExited !== undefined) throw new Error(`the store hand exited with ${handExited}`)
        return hold.stdout().includes('held')
      },
      { what: `the store hand to hold ${h1.node}'s name`, timeoutMs: 15_000 },
    ).catch((e: Error) => {
      throw new Error(`${e.message}\nstore hand stderr:\n${hold.stderr()}`)
    })

    await agents[0]!.restart()
    // the window: the API answers and the store does, but the node is not registered yet
    expect((await agents[0]!.api('GET', '/healthz')).body.ok).toBe(false)
    const disconnect = agents[0]!.api('POST', '/v1/networks/reann/disconnect', {
      endpoint: byApi,
    })
    await waitFor(
      async () => {
        const ids = await storedIds()
        return !ids.includes(disconnected.id) && !ids.includes(released.id)
      },
      {
        what: 'the API disconnect and the release of the gone sandbox to reach the store',
        timeoutMs: 15_000,
        intervalMs: 200, // each look is a process reading the store
      },
    )
    expect(handExited).toBeUndefined() // the name is still held: nothing re-announced yet
    expect((await agents[0]!.api('GET', '/healthz')).body.ok).toBe(false)

    await hold.stop(3000)
    // live restore: the record the store lost is written back (the re-announce ran) ...
    await waitFor(async () => (await storedIds()).includes(keep.id), {
      what: 'the re-announce to write back the endpoint the store lost',
      timeoutMs: 20_000,
      intervalMs: 200,
    })
    // ... and once the agent follows the store, its datapath holds only what the store does
    await waitFor(
      async () => {
        const ids = await storedIds()
        return (
          ids.includes(disconnected.id) ||
          ids.includes(released.id) ||
          (await localProgrammed()) === 1
        )
      },
      {
        what: 'host 1 to follow the store (one local endpoint programmed)',
        timeoutMs: 20_000,
        intervalMs: 200,
      },
    )
    const after = await storedIds()
    expect(after, 'the API disconnect was undone by the re-announce').not.toContain(disconnected.id)
    expect(after, "the gone sandbox's release was undone by the re-announce").not.toContain(
      released.id,
    )
    expect(after).toEqual([far.id, keep.id].sort())
    expect((await disconnect).status).toBe(200)

    // the kept endpoint still reaches the far one
    await waitFor(
      async () =>
        (await ping(topo.hosts[0]!.containers[0]!.ns, far.ip, { count: 1, timeoutMs: 500 }))
          .received === 1,
      { what: 'the kept endpoint to reach the far one', timeoutMs: 10_000 },
    )
  }, 120_000)
})
