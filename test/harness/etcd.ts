// A real etcd cluster (Debian's etcd-server, v3.4) for store tests: one member per namespace,
// each namespace on the topology's underlay bridge at 198.18.0.(230+N), so agents in the host
// namespaces reach the members and a test can kill, restart or cut off any one of them.
// Clients talk v3 through etcd's JSON gateway with curl run inside a namespace (the test
// process lives in the root namespace, which cannot reach namespace addresses).
// Processes are stopped by PID; data dirs and namespaces are removed by stop() / topo.destroy().
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { mustRunIn, run, runIn, spawnIn, type NsProcess, type RunResult } from './exec.ts'
import { findProcesses, isAlive } from './processes.ts'
import type { Topology } from './topology.ts'
import { waitFor } from './wait.ts'

const ETCD = '/usr/bin/etcd'
const CURL = '/usr/bin/curl'
/** Member N (1-based) listens on 198.18.0.(MEMBER_IP_BASE+N); hosts use 198.18.0.1.. */
const MEMBER_IP_BASE = 230
export const ETCD_CLIENT_PORT = 2379
export const ETCD_PEER_PORT = 2380

export interface EtcdOptions {
  /** Raft heartbeat in ms (etcd default 100). */
  heartbeatMs?: number
  /** Raft election timeout in ms (etcd default 1000): bounds how fast a new leader appears. */
  electionTimeoutMs?: number
  /** How long the cluster may take to become healthy (default 30 s). */
  startTimeoutMs?: number
}

export interface EtcdMember {
  /** Member name (e1, e2, ...), also its --name. */
  name: string
  /** The member's network namespace. */
  ns: string
  ip: string
  /** http://IP:2379 */
  clientUrl: string
  peerUrl: string
  dataDir: string
  /** The running etcd process, if any. */
  readonly proc: NsProcess | undefined
  readonly running: boolean
}

export interface EtcdStatus {
  /** etcd's member id (a uint64, as a decimal string). */
  memberId: string
  /** The member id this member believes is the leader ("0" when it knows none). */
  leader: string
  raftTerm: number
  revision: number
}

export interface EtcdCluster {
  members: EtcdMember[]
  /** "IP:2379" of every member. */
  endpoints: string[]
  /** The --store value weft takes: etcd://IP:2379,IP:2379,... */
  storeUrl: string
  /** POST a v3 JSON gateway call (e.g. "/v3/kv/put") to a member, from inside `fromNs` (default: its own). */
  call(
    member: EtcdMember,
    path: string,
    body: unknown,
    opts?: { fromNs?: string; timeoutS?: number },
  ): Promise<any>
  put(member: EtcdMember, key: string, value: string, opts?: { fromNs?: string }): Promise<void>
  /** The value of a key as read through a member (linearizable read), or undefined. */
  get(member: EtcdMember, key: string, opts?: { fromNs?: string }): Promise<string | undefined>
  status(member: EtcdMember): Promise<EtcdStatus>
  /** The member all reachable running members agree is leader, or undefined (no leader or no agreement). */
  leader(): Promise<EtcdMember | undefined>
  /** Poll until a leader is agreed (optionally one other than `not`); returns it. */
  waitForLeader(opts?: { not?: EtcdMember; timeoutMs?: number }): Promise<EtcdMember>
  /** End a member by PID (SIGKILL by default: a crash, not a clean leave). Its data stays. */
  kill(member: EtcdMember, signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>
  /** Start a killed member again on its data dir; resolves once it answers /health. */
  restart(member: EtcdMember): Promise<void>
  /** Stop every member by PID, remove data and the members' namespaces. */
  stop(): Promise<void>
}

/** Fails loudly when etcd or curl is missing (never skips). */
export function requireEtcd(): void {
  const missing = [ETCD, CURL].filter((p) => !existsSync(p))
  if (missing.length)
    throw new Error(
      `etcd tests need ${missing.join(', ')}: run scripts/setup.sh (installs etcd-server, curl)`,
    )
}

/** Start an n-member etcd cluster, each member in its own namespace on topo's underlay. */
export async function startEtcdCluster(
  topo: Topology,
  n = 3,
  opts: EtcdOptions = {},
): Promise<EtcdCluster> {
  requireEtcd()
  if (!Number.isInteger(n) || n < 1 || n > 9)
    throw new Error(`startEtcdCluster: n must be 1..9, got ${n}`)
  const dir = mkdtempSync(`/tmp/we-${topo.prefix}-`)
  const namespaces: string[] = []
  const procs = new Map<string, NsProcess>()
  let stopped = false

  const members: EtcdMember[] = Array.from({ length: n }, (_, i) => {
    const name = `e${i + 1}`
    const ip = `198.18.0.${MEMBER_IP_BASE + i + 1}`
    return {
      name,
      ns: `${topo.prefix}-${name}`,
      ip,
      clientUrl: `http://${ip}:${ETCD_CLIENT_PORT}`,
      peerUrl: `http://${ip}:${ETCD_PEER_PORT}`,
      dataDir: join(dir, name),
      get proc() {
        return procs.get(name)
      },
      get running() {
        const p = procs.get(name)
        return p !== undefined && isAlive(p.pid)
      },
    }
  })
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',')

  const spawnMember = (m: EtcdMember) => {
    procs.set(
      m.name,
      spawnIn(m.ns, [
        ETCD,
        '--name',
        m.name,
        '--data-dir',
        m.dataDir,
        '--listen-peer-urls',
        m.peerUrl,
        '--initial-advertise-peer-urls',
        m.peerUrl,
        '--listen-client-urls',
        `${m.clientUrl},http://127.0.0.1:${ETCD_CLIENT_PORT}`,
        '--advertise-client-urls',
        m.clientUrl,
        '--initial-cluster',
        initialCluster,
        '--initial-cluster-token',
        `weft-${topo.prefix}`,
        '--initial-cluster-state',
        'new', // ignored once the data dir holds a member
        '--heartbeat-interval',
        String(opts.heartbeatMs ?? 100),
        '--election-timeout',
        String(opts.electionTimeoutMs ?? 1000),
        '--logger',
        'zap',
        '--log-outputs',
        'stderr',
      ]),
    )
  }

  const curl = (fromNs: string, url: string, body?: unknown, timeoutS = 5): Promise<RunResult> =>
    runIn(
      fromNs,
      [
        CURL,
        '-sS',
        '--max-time',
        String(timeoutS),
        ...(body === undefined ? [] : ['-X', 'POST', '--data-binary', '@-']),
        url,
      ],
      body === undefined ? {} : { stdin: JSON.stringify(body) },
    )

  const waitHealthy = (m: EtcdMember, timeoutMs: number) =>
    waitFor(
      async () => {
        const p = procs.get(m.name)
        if (!p || !isAlive(p.pid))
          throw new Error(
            `etcd ${m.name} exited: ${p?.stderr().trim().split('\n').slice(-3).join(' | ')}`,
          )
        const r = await curl(m.ns, `${m.clientUrl}/health`, undefined, 2)
        return r.code === 0 && JSON.parse(r.stdout).health === 'true'
      },
      { what: `etcd ${m.name} at ${m.clientUrl} healthy`, timeoutMs, intervalMs: 50 },
    )

  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => `${m.ip}:${ETCD_CLIENT_PORT}`),
    storeUrl: `etcd://${members.map((m) => `${m.ip}:${ETCD_CLIENT_PORT}`).join(',')}`,
    async call(m, path, body, o = {}) {
      const r = await curl(o.fromNs ?? m.ns, `${m.clientUrl}${path}`, body, o.timeoutS)
      if (r.code !== 0)
        throw new Error(`etcd ${m.name} ${path}: curl exited ${r.code}: ${r.stderr.trim()}`)
      const reply = JSON.parse(r.stdout)
      if (reply.error || reply.code)
        throw new Error(`etcd ${m.name} ${path}: ${reply.message ?? reply.error}`)
      return reply
    },
    async put(m, key, value, o) {
      await cluster.call(m, '/v3/kv/put', { key: b64(key), value: b64(value) }, o)
    },
    async get(m, key, o) {
      const reply = await cluster.call(m, '/v3/kv/range', { key: b64(key) }, o)
      const kv = reply.kvs?.[0]
      return kv ? Buffer.from(kv.value ?? '', 'base64').toString() : undefined
    },
    async status(m) {
      const s = await cluster.call(m, '/v3/maintenance/status', {}, { timeoutS: 2 })
      return {
        memberId: s.header.member_id,
        leader: s.leader ?? '0',
        raftTerm: Number(s.raftTerm ?? 0),
        revision: Number(s.header.revision ?? 0),
      }
    },
    async leader() {
      const statuses = (
        await Promise.all(
          members
            .filter((m) => m.running)
            .map(async (m) => {
              try {
                return { m, s: await cluster.status(m) }
              } catch {
                return undefined // a member that cannot answer has no say in who leads
              }
            }),
        )
      ).filter((x) => x !== undefined)
      const views = new Set(statuses.map(({ s }) => s.leader))
      if (views.size !== 1 || views.has('0')) return undefined
      const [leaderId] = views
      return statuses.find(({ s }) => s.memberId === leaderId)?.m
    },
    waitForLeader(o = {}) {
      return waitFor(
        async () => {
          const l = await cluster.leader()
          return l && l !== o.not ? l : undefined
        },
        {
          what: o.not ? `an etcd leader other than ${o.not.name}` : 'an etcd leader',
          timeoutMs: o.timeoutMs ?? 10_000,
          intervalMs: 50,
        },
      )
    },
    async kill(m, signal = 'SIGKILL') {
      const p = procs.get(m.name)
      if (!p || !isAlive(p.pid)) throw new Error(`etcd ${m.name} is not running`)
      process.kill(p.pid, signal)
      await p.exited
      await p.stop() // drops it from the harness's live set
    },
    async restart(m) {
      if (m.running) throw new Error(`etcd ${m.name} is still running: kill it first`)
      spawnMember(m)
      await waitHealthy(m, opts.startTimeoutMs ?? 30_000)
    },
    async stop() {
      if (stopped) return
      stopped = true
      const errors: string[] = []
      // leader first, while its followers can still take leadership over; a leader stopped
      // last waited ~7 s here on streams to peers already gone
      const leader = await cluster.leader().catch(() => undefined)
      const order = [...(leader ? [leader] : []), ...members.filter((m) => m !== leader)]
      for (const m of order) await procs.get(m.name)?.stop(5000)
      const left = findProcesses({ cmdlineHas: dir })
      if (left.length)
        errors.push(`etcd processes still running: ${left.map((p) => p.pid).join(', ')}`)
      rmSync(dir, { recursive: true, force: true })
      for (const ns of namespaces.reverse()) {
        const r = await run(['ip', 'netns', 'del', ns])
        if (r.code !== 0) errors.push(`ip netns del ${ns}: ${r.stderr.trim()}`)
      }
      if (errors.length)
        throw new Error(`etcd cluster of ${topo.prefix} stop:\n  ${errors.join('\n  ')}`)
    },
  }

  topo.track(() => cluster.stop())
  try {
    for (const [i, m] of members.entries()) {
      const r = await run(['ip', 'netns', 'add', m.ns])
      if (r.code !== 0) throw new Error(`ip netns add ${m.ns}: ${r.stderr.trim()}`)
      namespaces.push(m.ns)
      await mustRunIn(m.ns, ['ip', 'link', 'set', 'lo', 'up'])
      const port = `e${i + 1}`
      await mustRunIn(topo.underlayNs, [
        'ip',
        'link',
        'add',
        port,
        'type',
        'veth',
        'peer',
        'name',
        'ul0',
        'netns',
        m.ns,
      ])
      await mustRunIn(topo.underlayNs, ['ip', 'link', 'set', port, 'master', 'br0', 'up'])
      await mustRunIn(m.ns, ['ip', 'addr', 'add', `${m.ip}/24`, 'dev', 'ul0'])
      await mustRunIn(m.ns, ['ip', 'link', 'set', 'ul0', 'up'])
    }
    for (const m of members) spawnMember(m)
    await Promise.all(members.map((m) => waitHealthy(m, opts.startTimeoutMs ?? 30_000)))
  } catch (e) {
    try {
      await cluster.stop()
    } catch (stopErr) {
      throw new Error(
        `${(e as Error).message}\n(and cleaning up failed: ${(stopErr as Error).message})`,
      )
    }
    throw e
  }
  return cluster
}

/** Everything of this cluster that still exists: processes, data dirs, namespaces. */
export async function etcdLeaks(cluster: EtcdCluster): Promise<string[]> {
  const found: string[] = []
  const dir = cluster.members[0]!.dataDir.replace(/\/[^/]+$/, '')
  for (const p of findProcesses({ cmdlineHas: dir }))
    found.push(`process ${p.pid} (${p.cmdline}) still running`)
  if (existsSync(dir)) found.push(`directory ${dir} left`)
  for (const m of cluster.members)
    if (existsSync(`/run/netns/${m.ns}`)) found.push(`namespace ${m.ns} left`)
  return found
}

function b64(s: string): string {
  return Buffer.from(s).toString('base64')
}
