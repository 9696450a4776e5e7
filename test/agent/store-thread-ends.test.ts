// The store host's embedded store runs on a thread of its own (src/kv/secure/store-thread.ts).
// If that thread ends while nobody stopped it (an uncaught error in it, as a bug would throw),
// every host's store requests go unanswered; an agent that went on running would only look
// healthy. So the agent exits with an error (exit code != 0) that says why, its supervisor
// starts it again, and the datapath it programmed keeps carrying traffic in between (live
// restore). The thread is made to fail through its test-only switch,
// WEFT_TEST_STORE_THREAD_FAULT: once the file it names exists, the thread throws an uncaught
// error. Real agents, real BPF, real namespaces. Needs root and BPF; fails loudly without them.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTopology, ping, requireRoot, waitFor, type Topology } from '../harness/index.ts'
import { startAgents, type RunningAgent } from './agents.ts'

describe("the store host's store thread ends on its own", () => {
  let topo: Topology
  let agents: RunningAgent[]
  let a: { ns: string; ip: string }
  let b: { ns: string; ip: string }
  let faultFile: string

  beforeAll(async () => {
    requireRoot()
    topo = await createTopology({ hosts: 2, containersPerHost: 1 })
    faultFile = join('/tmp', `weft-${topo.prefix}-store-fault`)
    topo.track(() => rmSync(faultFile, { force: true }))
    agents = await startAgents(topo, {
      hostEnv: (host): Record<string, string> =>
        host === topo.hosts[0] ? { WEFT_TEST_STORE_THREAD_FAULT: faultFile } : {},
    })
    expect(
      (await agents[0]!.api('POST', '/v1/networks', { name: 'st', subnet: '10.96.0.0/24' })).status,
    ).toBe(201)
    const connect = async (h: number) => {
      const ns = topo.hosts[h]!.containers[0]!.ns
      const r = await agents[h]!.api('POST', '/v1/networks/st/connect', { sandbox: ns })
      expect(r.status).toBe(201)
      return { ns, ip: r.body.ip as string }
    }
    a = await connect(0)
    b = await connect(1)
    await waitFor(
      async () => (await ping(a.ns, b.ip, { count: 1, timeoutMs: 500 })).received === 1,
      { what: 'a -> b before the fault', timeoutMs: 15_000 },
    )
  }, 90_000)
  afterAll(async () => {
    await topo?.destroy()
  }, 60_000)

  test('the agent exits with an error that names the store thread; the datapath stays; a restart serves the store again', async () => {
    const h1 = agents[0]!
    writeFileSync(faultFile, '')
    let code: number | undefined
    void h1.proc.exited.then((c) => (code = c))
    await waitFor(() => code !== undefined, {
      what: "the store host's agent to exit",
      timeoutMs: 20_000,
    })
    expect(code).not.toBe(0)
    const stderr = h1.proc.stderr()
    expect(stderr).toContain("the embedded store's thread ended")
    expect(stderr).toContain('a test fault')
    expect(stderr).toContain('the agent exits so that its supervisor starts it again')
    // live restore: what the agent programmed still carries traffic while it is down
    expect(existsSync(join('/sys/fs/bpf/weft', h1.node))).toBe(true)
    expect((await ping(a.ns, b.ip, { count: 2, timeoutMs: 1000 })).received).toBe(2)

    // the supervisor's part: start it again (the fault file gone); its store answers everyone
    rmSync(faultFile)
    await h1.restart()
    await waitFor(
      async () => {
        const r = await agents[1]!.api('GET', '/v1/nodes')
        return r.status === 200 && r.body.filter((n: { alive: boolean }) => n.alive).length === 2
      },
      { what: 'both nodes alive in the restarted store', timeoutMs: 30_000 },
    )
    // host 2 reaches the store again (it joined over TLS): a write through it lands
    const net = await agents[1]!.api('POST', '/v1/networks', {
      name: 'st2',
      subnet: '10.96.1.0/24',
    })
    expect(net.status).toBe(201)
    expect((await ping(a.ns, b.ip, { count: 2, timeoutMs: 1000 })).received).toBe(2)
  }, 90_000)
})
