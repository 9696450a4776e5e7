// Status that tells the truth (issue 12 item 6), with real agents: /healthz names the items
// that fail and why; `node ls` never shows a node Ready while the store is unreachable (it
// says Unknown, with the mirror's last word); `weft agent` logs "ready" only once registered.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import {
  createTopology,
  mustRunIn,
  requireRoot,
  runIn,
  waitFor,
  type Topology,
} from '../harness/index.ts'
import { startAgents, type RunningAgent } from '../agent/agents.ts'
import { weftAt } from '../cli/weft.ts'

describe('status tells the truth', () => {
  let topo: Topology
  let agents: RunningAgent[]

  beforeAll(async () => {
    requireRoot()
    topo = await createTopology({ hosts: 2, containersPerHost: 1 })
    agents = await startAgents(topo, { extraArgs: ['--log-level', 'info'] })
  }, 60_000)
  afterAll(async () => {
    await topo?.destroy()
  }, 60_000)

  test('/healthz of a node with a failing item says which item fails, the operation and why; it clears once repaired', async () => {
    expect(
      (await agents[0]!.api('POST', '/v1/networks', { name: 'truth', subnet: '10.93.0.0/24' }))
        .status,
    ).toBe(201)
    const r = await agents[0]!.api('POST', '/v1/networks/truth/connect', {
      sandbox: topo.hosts[0]!.containers[0]!.ns,
    })
    expect(r.status).toBe(201)
    const veth = `wf${(r.body.id as string).slice(0, 10)}`
    // the sandbox gets an eth0 of another kind (its own is renamed first: no host event yet),
    // then the host veth goes: re-attaching must fail, and say why (no race with the repair)
    await mustRunIn(topo.hosts[0]!.containers[0]!.ns, ['ip', '-batch', '-'], {
      stdin: 'link set dev eth0 name eth9\nlink add eth0 type bridge\n',
    })
    await mustRunIn(topo.hosts[0]!.ns, ['ip', 'link', 'del', 'dev', veth])
    const sick = await waitFor(
      async () => {
        const h = await agents[0]!.api('GET', '/healthz')
        return h.status === 503 && h.body.reconcile.failures?.length ? h.body : undefined
      },
      { what: '/healthz to report the failing endpoint', timeoutMs: 15_000 },
    )
    expect(sick.ok).toBe(false)
    expect(sick.reconcile.failures).toEqual([
      expect.objectContaining({
        kind: 'local-endpoint',
        key: veth,
        op: 'attach',
        error: expect.stringContaining(`eth0 already exists in sandbox`),
        attempts: expect.any(Number),
      }),
    ])
    expect(sick.reconcile.failures[0].subject).toContain(r.body.id.slice(0, 12))
    expect(Date.parse(sick.reconcile.failures[0].since)).toBeGreaterThan(Date.now() - 60_000)

    const sandbox = topo.hosts[0]!.containers[0]!.ns
    await mustRunIn(sandbox, ['ip', 'link', 'del', 'dev', 'eth0'])
    await runIn(sandbox, ['ip', 'link', 'del', 'dev', 'eth9']) // gone already with its host end
    const well = await waitFor(
      async () => {
        const h = await agents[0]!.api('GET', '/healthz')
        return h.status === 200 ? h.body : undefined
      },
      { what: '/healthz to be ok again after the veth came back', timeoutMs: 40_000 },
    )
    expect(well.reconcile.failures).toEqual([])
  }, 90_000)

  test('"weft agent ready" is logged after the node registered', () => {
    for (const a of agents) {
      const log = a.proc.stderr()
      const registered = log.indexOf('node registered')
      expect(registered).toBeGreaterThan(-1)
      expect(log.indexOf('weft agent ready')).toBeGreaterThan(registered)
    }
  })

  test('with the store host down, node ls says Unknown (never Ready) with how long the store has been silent', async () => {
    const cli = weftAt(agents[1]!.socket)
    const before = await cli(['node', 'ls'])
    expect(before.code).toBe(0)
    expect(before.stdout).toMatch(new RegExp(`${topo.hosts[0]!.node}\\s+\\S+\\s+Ready`))

    await agents[0]!.kill('SIGKILL') // the store's host
    const nodes = await waitFor(
      async () => {
        const r = await agents[1]!.api('GET', '/v1/nodes')
        return r.body.every((n: { status: string }) => n.status === 'Unknown') ? r.body : undefined
      },
      { what: 'agent 1 to call every node Unknown', timeoutMs: 20_000 },
    )
    const storeHost = nodes.find((n: { name: string }) => n.name === topo.hosts[0]!.node)
    expect(storeHost.statusReason).toMatch(
      /store has not answered for \d+ s; it was alive at the last contact/,
    )
    const ls = await cli(['node', 'ls'])
    expect(ls.stdout).toMatch(new RegExp(`${topo.hosts[0]!.node}\\s+\\S+\\s+Unknown`))
    expect(ls.stdout).not.toContain('Ready')
    const h = await agents[1]!.api('GET', '/healthz')
    expect(h.body.store.reachable).toBe(false)
    expect(Date.parse(h.body.store.unreachableSince)).toBeGreaterThan(Date.now() - 60_000)
    expect(Date.parse(h.body.store.lastContact)).toBeLessThanOrEqual(
      Date.parse(h.body.store.unreachableSince),
    )
  }, 60_000)

  test('an agent started while the store is down does not log "ready" until it has registered', async () => {
    await agents[1]!.kill('SIGTERM')
    await agents[1]!.restart()
    await waitFor(() => agents[1]!.proc.stderr().includes('admin API listening'), {
      what: 'agent 1 to serve its API',
    })
    expect(agents[1]!.proc.stderr()).not.toContain('weft agent ready')
    await agents[0]!.restart()
    await waitFor(() => agents[1]!.proc.stderr().includes('weft agent ready'), {
      what: 'agent 1 to register and say ready',
      timeoutMs: 20_000,
    })
    const log = agents[1]!.proc.stderr()
    expect(log.indexOf('weft agent ready')).toBeGreaterThan(log.indexOf('node registered'))
    const nodes = await waitFor(
      async () => {
        const r = await agents[1]!.api('GET', '/v1/nodes')
        return r.body.every((n: { status: string }) => n.status === 'Ready') ? r.body : undefined
      },
      { what: 'every node Ready again', timeoutMs: 20_000 },
    )
    expect(nodes).toHaveLength(2)
  }, 60_000)
})
