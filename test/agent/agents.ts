// Runs real `weft agent` processes (the built binary) inside the harness's host namespaces
// and talks to them over their admin API unix sockets.
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnIn, waitFor, type Host, type NsProcess, type Topology } from '../harness/index.ts'

export const WEFT = join(import.meta.dir, '..', '..', 'dist', 'weft')

export interface AgentOptions {
  datapath?: 'bpf' | 'kernel'
  ttl?: string
  /** Index of the host that serves the embedded store (default 0). */
  storeHost?: number
  /** A --store every agent uses (e.g. an etcd cluster's etcd://…) instead of host storeHost's embedded one. */
  store?: string
  extraArgs?: string[]
  /** Further flags for one host's agent (e.g. its own --docker socket). */
  hostArgs?: (host: Host) => string[]
  /** Further environment for one host's agent (e.g. a test-only fault switch). */
  hostEnv?: (host: Host) => Record<string, string>
}

export interface RunningAgent {
  host: Host
  node: string
  socket: string
  dataDir: string
  proc: NsProcess
  /** The agents that join the store host get its <data>/join-token in $WEFT_JOIN_TOKEN (not in ps). */
  env(): Record<string, string>
  /** JSON request to this agent's admin API. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>
  /** Start the agent process again (after kill/stop), with the same data dir. */
  restart(): Promise<void>
  kill(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>
}

/**
 * The agent command: dist/weft, or WEFT_AGENT_CMD (space-separated, e.g.
 * "bun --cpu-prof-md --cpu-prof-dir=/tmp/prof src/main.ts" to profile agents from source).
 */
function agentCommand(): string[] {
  const custom = process.env.WEFT_AGENT_CMD?.trim()
  return custom ? custom.split(/\s+/) : [WEFT]
}

/** The join token the store host's agent made at its first start (secure by default). */
export function storeJoinToken(root: string, storeHost: Host): string {
  const path = join(root, storeHost.node, 'join-token')
  if (!existsSync(path)) throw new Error(`${path} is missing: start the store host's agent first`)
  return readFileSync(path, 'utf8').trim()
}

export async function startAgents(
  topo: Topology,
  opts: AgentOptions = {},
): Promise<RunningAgent[]> {
  if (!existsSync(WEFT)) throw new Error('dist/weft is missing: run `npm run build` first')
  const root = mkdtempSync(join(tmpdir(), `weft-${topo.prefix}-`))
  topo.track(() => rmSync(root, { recursive: true, force: true }))
  const storeHost = topo.hosts[opts.storeHost ?? 0]!
  const storeAddr = `${storeHost.underlay.ip}:8500`
  const agents: RunningAgent[] = []
  for (const host of topo.hosts) {
    const dataDir = join(root, host.node)
    const socket = join(root, `${host.node}.sock`)
    const args = [
      ...agentCommand(),
      'agent',
      '--name',
      host.node,
      '--advertise',
      host.underlay.ip,
      '--data',
      dataDir,
      '--api',
      `unix://${socket}`,
      '--datapath',
      opts.datapath ?? 'bpf',
      '--ttl',
      opts.ttl ?? '2s',
      '--log-level',
      'warn',
      ...(opts.store
        ? ['--store', opts.store]
        : host === storeHost
          ? ['--store', 'embedded', '--kv-listen', storeAddr]
          : ['--store', `consul://${storeAddr}`]),
      ...(opts.extraArgs ?? []),
      ...(opts.hostArgs?.(host) ?? []),
    ]
    const agent: RunningAgent = {
      host,
      node: host.node,
      socket,
      dataDir,
      proc: undefined as unknown as NsProcess,
      // joining the first host's embedded store takes its join token; an external store (etcd) none
      env: (): Record<string, string> => ({
        ...(host === storeHost || opts.store
          ? {}
          : { WEFT_JOIN_TOKEN: storeJoinToken(root, storeHost) }),
        ...opts.hostEnv?.(host),
      }),
      async api(method, path, body) {
        const res = await fetch(`http://weft${path}`, {
          method,
          unix: socket,
          headers: body === undefined ? {} : { 'content-type': 'application/json' },
          body:
            body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        } as RequestInit)
        const text = await res.text()
        let parsed: unknown = text
        try {
          parsed = JSON.parse(text)
        } catch {}
        return { status: res.status, body: parsed }
      },
      async restart() {
        const proc = (agent.proc = spawnIn(host.ns, args, {
          env: agent.env(),
          label: `agent-${host.node}`,
        }))
        const ready = waitFor(
          async () => (await agent.api('GET', '/healthz').catch(() => ({ status: 0 }))).status > 0,
          { what: `agent ${host.node} API`, timeoutMs: 15_000 },
        )
        const died = proc.exited.then((code) => {
          throw new Error(`agent ${host.node} exited with code ${code}`)
        })
        died.catch(() => {})
        ready.catch(() => {})
        await Promise.race([ready, died]).catch((e) => {
          throw new Error(`${e.message}\nagent stderr:\n${proc.stderr().slice(-3000)}`)
        })
      },
      async kill(signal = 'SIGKILL') {
        process.kill(agent.proc.pid, signal)
        await agent.proc.exited
      },
    }
    agents.push(agent)
  }
  // the store's host first: the others need it to register
  const ordered = [
    agents[opts.storeHost ?? 0]!,
    ...agents.filter((_, i) => i !== (opts.storeHost ?? 0)),
  ]
  for (const a of ordered) await a.restart()
  // on teardown: stop the agents, then remove what they programmed (live-restore leaves it)
  topo.track(async () => {
    for (const a of agents) await a.proc.stop(3000)
  })
  await waitFor(
    async () => {
      const r = await agents[0]!.api('GET', '/v1/nodes')
      return (
        r.status === 200 &&
        r.body.filter((n: { alive: boolean }) => n.alive).length === agents.length
      )
    },
    { what: 'all nodes registered', timeoutMs: 15_000 },
  )
  return agents
}
