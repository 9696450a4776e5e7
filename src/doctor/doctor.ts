// weft doctor: what is wrong on the path from a local sandbox (or this whole host) to a far
// endpoint, read from what this agent holds: the store's contact, its registration, the
// reconciler's failures, drift not yet put back, endpoint facts, the kernel's actual state
// against the desired one, peers' liveness in the mirror and in this host's probes of them
// (probes.ts), and drop counters. It never guesses: every problem is a reading, and the checks
// that ran are listed.
import { existsSync } from 'node:fs'
import type { ClusterView, EndpointRecord, NetworkRecord } from '../cluster/index.ts'
import type { ActualState, VniStats } from '../datapath/types.ts'
import { NotFoundError } from '../errors/index.ts'
import { hostIfnameFor, sandboxPath } from '../net/index.ts'
import type { PeerReport } from '../probe/index.ts'
import { desiredState, remoteKey, type ItemFailure, type PeerLiveness } from '../reconcile/index.ts'
import { DROP_WORDS, DropHistory } from './drops.ts'
import { judgeNode, type StoreContact } from './node-state.ts'
import { agentDownFinding, probeFindings } from './probes.ts'
import type { DoctorQuery, DoctorReport, Problem, ProblemCheck } from './types.ts'

export interface DoctorSources {
  node: string
  view(): ClusterView
  store(): StoreContact & { lastError?: string; address?: string }
  registered(): boolean
  failures(): ItemFailure[]
  /** Drift seen and not put back yet. */
  unrepaired(): { kind: string; detail: string; since: number }[]
  /** The kernel's state as the datapath reads it (not filtered by the drift guard). */
  actual(): Promise<ActualState>
  stats(): Promise<VniStats[]>
  /** Attach facts of this host's endpoints (status, error). */
  localFacts(): Promise<{ endpointId: string; status: string; error: string | null }[]>
  /** Wait for a reconcile pass that started after the call (so the comparison is not mid-pass). */
  settle(): Promise<void>
  /** What this host's probes say of each peer (src/probe); absent: no probes, lease only. */
  peers?(): PeerReport[]
  /** The reconciler's judgement of peers (the prober): what the desired state is derived with. */
  liveness?: PeerLiveness
  /** This host's datapath (default bpf): the desired state's members depend on it. */
  datapathKind?: 'bpf' | 'kernel'
  sandboxExists?(ref: string): boolean
  now?(): number
}

/**
 * Drops are a problem on the path while they happen: those counted in the last 15 s (one ARP
 * left unanswered a minute ago is history). Samples are taken every 5 s (DROP_SAMPLE_MS).
 */
const DROP_WINDOW_MS = 15_000
export const DROP_SAMPLE_MS = 5_000

const hhmmss = (ms: number) => new Date(ms).toISOString().slice(11, 19)
const ago = (ms: number) =>
  ms < 120_000 ? `${Math.max(0, Math.round(ms / 1000))} s` : `${Math.round(ms / 60_000)} min`

/** What the query narrows the checks to. */
interface Scope {
  nets: NetworkRecord[]
  /** Local endpoints on the path (all of this host's in `nets` without a target). */
  locals: EndpointRecord[]
  /** The far end, when asked. */
  far?: EndpointRecord
  path: string
}

export class Doctor {
  private readonly drops: DropHistory
  private readonly now: () => number

  constructor(private readonly s: DoctorSources) {
    this.now = s.now ?? Date.now
    this.drops = new DropHistory(DROP_WINDOW_MS, this.now)
  }

  /** Take a sample of the drop counters (the agent calls this now and then, so "since" has a start). */
  async sample(): Promise<void> {
    this.drops.add(await this.s.stats())
  }

  /** Sample the drop counters every `ms` (and once now); returns the stop. */
  sampleEvery(ms: number, log?: { warn: (o: object, m?: string) => void }): () => void {
    const take = () =>
      this.sample().catch((e) =>
        log?.warn({ err: (e as Error).message }, 'reading drop counters for doctor failed'),
      )
    void take()
    const t = setInterval(take, ms)
    return () => clearInterval(t)
  }

  async run(q: DoctorQuery = {}): Promise<DoctorReport> {
    const view = this.s.view()
    const scope = this.scope(view, q)
    const problems: Problem[] = []
    const checked: ProblemCheck[] = []
    const me = `this host (${this.s.node})`
    const netName = (vni: number) =>
      [...view.networks.values()].find((n) => n.vni === vni)?.name ?? `VNI ${vni}`
    const vnis = new Set(scope.nets.map((n) => n.vni))
    const epHop = (e: EndpointRecord) => `endpoint ${e.name} (${e.ip})`
    const add = (hop: string, check: ProblemCheck, cause: string) =>
      problems.push({ hop, check, cause })

    // 1. the store and this node's registration
    checked.push('store', 'registration')
    const store = this.s.store()
    const now = this.now()
    if (!store.reachable) {
      const since = store.unreachableSince
        ? `has not answered for ${ago(now - store.unreachableSince)} (since ${hhmmss(store.unreachableSince)})`
        : 'has not answered since this agent started'
      add(
        me,
        'store',
        `the store${store.address ? ` at ${store.address}` : ''} ${since}${store.lastError ? `: ${store.lastError}` : ''}; ` +
          'the datapath runs from the local mirror, and changes elsewhere are not seen',
      )
    } else if (!this.s.registered()) {
      add(me, 'registration', 'not registered in the store: peers do not program its endpoints')
    }

    // 2. what the reconciler cannot program, and drift not yet put back
    checked.push('reconcile', 'drift')
    const failing = new Set<string>()
    for (const f of this.s.failures()) {
      if (!vnis.has(f.vni)) continue
      failing.add(`${f.kind} ${f.key}`)
      const ep = f.endpointId ? view.endpoints.get(f.endpointId) : undefined
      const hop = ep ? epHop(ep) : `network ${netName(f.vni)}`
      add(
        hop,
        'reconcile',
        `${f.op} of ${f.subject} has failed ${f.attempts} time${f.attempts > 1 ? 's' : ''} since ${hhmmss(f.since)}: ${f.error}`,
      )
    }
    for (const d of this.s.unrepaired())
      add(
        me,
        'drift',
        `${d.detail} (seen ${ago(now - d.since)} ago, not put back yet: kind ${d.kind})`,
      )

    // 3. the local endpoints on the path
    checked.push('endpoint')
    const facts = new Map((await this.s.localFacts()).map((f) => [f.endpointId, f]))
    const exists = this.s.sandboxExists ?? ((ref: string) => existsSync(sandboxPath(ref)))
    for (const e of scope.locals) {
      if (e.sandbox && !exists(e.sandbox)) {
        add(
          epHop(e),
          'endpoint',
          `its sandbox ${e.sandbox} is gone (its network namespace was deleted): the endpoint cannot carry traffic`,
        )
        continue
      }
      if (failing.has(`local-endpoint ${hostIfnameFor(e.id)}`)) continue
      const f = facts.get(e.id)
      if (!f) add(epHop(e), 'endpoint', 'not attached on this host yet (no attach recorded)')
      else if (f.status !== 'attached')
        add(epHop(e), 'endpoint', `not attached: ${f.error ?? f.status}`)
    }

    // 4. the kernel against the desired state, after a pass has run on the current view
    checked.push('kernel')
    await this.s.settle()
    const want = desiredState(this.s.view(), this.s.node, this.s.liveness, {
      datapath: this.s.datapathKind,
    })
    const a = await this.s.actual()
    for (const vni of vnis) {
      if (!want.networks.has(vni)) continue
      const net = `network ${netName(vni)}`
      if (!a.networks.some((n) => n.vni === vni) && !failing.has(`network ${vni}`)) {
        add(
          net,
          'kernel',
          `VNI ${vni} is missing from this host's datapath (its endpoints cannot send)`,
        )
      }
      const heldLocal = new Set(
        a.localEndpoints.filter((l) => l.vni === vni && l.hostIfname).map((l) => l.hostIfname!),
      )
      for (const [name, l] of want.local) {
        if (l.vni !== vni || heldLocal.has(name) || failing.has(`local-endpoint ${name}`)) continue
        const e = view.endpoints.get(l.id)
        if (e && scope.locals.includes(e) && !(e.sandbox && !exists(e.sandbox)))
          add(epHop(e), 'kernel', `missing from the datapath (no forwarding state for ${name})`)
      }
      for (const l of a.localEndpoints) {
        if (l.vni === vni && l.hostIfname === undefined)
          add(
            net,
            'kernel',
            `stale entry: forwarding state for ${l.ip} remains for a veth that is gone`,
          )
      }
      const heldRemote = new Map(
        a.remoteEndpoints.filter((r) => r.vni === vni).map((r) => [remoteKey(r.vni, r.ip), r]),
      )
      for (const [key, r] of want.remote) {
        if (r.vni !== vni || failing.has(`remote-endpoint ${key}`)) continue
        if (scope.far && scope.far.ip !== r.ip) continue
        const held = heldRemote.get(key)
        const owner = [...view.endpoints.values()].find(
          (e) => e.networkId && view.networks.get(e.networkId)?.vni === vni && e.ip === r.ip,
        )
        const who = `remote endpoint ${r.ip}${owner?.node ? ` on ${owner.node}` : ''}`
        if (!held)
          add(
            net,
            'kernel',
            `missing entry: ${who} is not programmed on this host (traffic to it is dropped as unknown_dst)`,
          )
        else if (held.vtep !== r.vtep || held.mac !== r.mac)
          add(
            net,
            'kernel',
            `wrong entry: ${who} is programmed via VTEP ${held.vtep} (${held.mac}), the cluster says ${r.vtep} (${r.mac})`,
          )
      }
      for (const [key, r] of heldRemote) {
        if (want.remote.has(key) || failing.has(`remote-endpoint ${key}`)) continue
        const rec = [...view.endpoints.values()].find(
          (e) => view.networks.get(e.networkId)?.vni === vni && e.ip === r.ip,
        )
        const why =
          rec?.node && !view.nodes.has(rec.node)
            ? `stale: its node ${rec.node} is dead in the store`
            : rec
              ? 'stale'
              : 'foreign: no endpoint of the cluster has this address'
        add(
          net,
          'kernel',
          `entry ${r.ip} -> VTEP ${r.vtep} is in the datapath but not wanted (${why})`,
        )
      }
      const heldMembers =
        a.members
          .find((m) => m.vni === vni)
          ?.vteps.slice()
          .sort()
          .join(',') ?? ''
      const wantMembers = (want.members.get(vni) ?? [])
        .filter((v) => v !== this.advertise(view))
        .sort()
        .join(',')
      if (heldMembers !== wantMembers && !failing.has(`members ${vni}`)) {
        add(
          net,
          'kernel',
          `member VTEPs are [${heldMembers}] in the datapath, the cluster says [${wantMembers}]`,
        )
      }
    }

    // 5. peers: the nodes behind the remote endpoints on the path
    checked.push('peer')
    const peers = new Map<string, number>()
    for (const e of view.endpoints.values()) {
      const net = view.networks.get(e.networkId)
      if (!net || !vnis.has(net.vni) || e.external || !e.node || e.node === this.s.node) continue
      if (scope.far && scope.far.id !== e.id) continue
      peers.set(e.node, (peers.get(e.node) ?? 0) + 1)
    }
    const reports = new Map((this.s.peers?.() ?? []).map((r) => [r.node, r]))
    const probed = [...peers].map(([node, endpoints]) => ({
      node,
      record: view.nodes.get(node),
      endpoints,
      report: reports.get(node),
    }))
    for (const [peer, n] of peers) {
      const j = judgeNode(view.nodes.has(peer), store, now)
      if (j.state === 'Ready') continue
      const agentDown =
        j.state === 'Down' &&
        agentDownFinding(
          probed.find((p) => p.node === peer)!,
          now,
        )
      if (agentDown) {
        add(`peer node ${peer}`, agentDown.check, agentDown.cause)
        continue
      }
      add(
        `peer node ${peer}`,
        'peer',
        j.state === 'Down'
          ? `dead in the store (no live record): its ${n} endpoint${n > 1 ? 's' : ''} on the path ${n > 1 ? 'are' : 'is'} not programmed here`
          : `unknown: ${j.reason}`,
      )
    }

    // 6. what probes of those peers say: reachability, path MTU, VNIs they do not serve
    checked.push('probe')
    const meVtep = { node: this.s.node, vtep: this.advertise(view) }
    for (const p of probed)
      for (const f of probeFindings(p, meVtep, scope.nets))
        add(`peer node ${p.node}`, f.check, f.cause)

    // 7. drops on the path's networks, recently
    checked.push('drops')
    await this.sample()
    for (const d of this.drops.recent()) {
      if (!vnis.has(d.vni)) continue
      add(
        `network ${netName(d.vni)}`,
        'drops',
        `${d.packets} packets dropped since ${hhmmss(d.since)}: ${d.reason} (${DROP_WORDS[d.reason] ?? 'see weft stats'})`,
      )
    }

    return { ok: problems.length === 0, node: this.s.node, path: scope.path, problems, checked }
  }

  private advertise(view: ClusterView): string | undefined {
    return view.nodes.get(this.s.node)?.advertise
  }

  /** Resolve the query against the view; unknown names are a NotFoundError (nothing was checked). */
  private scope(view: ClusterView, q: DoctorQuery): Scope {
    let nets = [...view.networks.values()]
    if (q.network !== undefined) {
      const n = nets.find(
        (x) =>
          x.name === q.network ||
          x.id === q.network ||
          (q.network!.length >= 12 && x.id.startsWith(q.network!)),
      )
      if (!n)
        throw new NotFoundError(
          `network "${q.network}" not found: see weft network ls`,
          'network_not_found',
        )
      nets = [n]
    }
    const ids = new Set(nets.map((n) => n.id))
    const mine = [...view.endpoints.values()].filter(
      (e) => e.node === this.s.node && !e.external && ids.has(e.networkId),
    )
    let locals = mine
    let path =
      q.network !== undefined
        ? `network ${nets[0]!.name} on this host`
        : 'every network on this host'
    if (q.target !== undefined) {
      const t = q.target
      const key = (() => {
        try {
          return sandboxPath(t)
        } catch {
          return undefined
        }
      })()
      locals = mine.filter(
        (e) =>
          e.name === t ||
          e.id === t ||
          (t.length >= 12 && e.id.startsWith(t)) ||
          (!!e.sandbox &&
            (e.sandbox === t || (key !== undefined && sandboxPath(e.sandbox) === key))),
      )
      if (locals.length === 0) {
        throw new NotFoundError(
          `no endpoint of this host is "${t}" (a sandbox or endpoint name or id)${q.network ? ` in network ${q.network}` : ''}`,
          'endpoint_not_found',
        )
      }
      const onNets = new Set(locals.map((e) => e.networkId))
      nets = nets.filter((n) => onNets.has(n.id))
      path = `${t} in ${nets.map((n) => `network ${n.name}`).join(', ')}`
    }
    let far: EndpointRecord | undefined
    if (q.to !== undefined) {
      const inNets = [...view.endpoints.values()].filter((e) =>
        nets.some((n) => n.id === e.networkId),
      )
      far =
        inNets.find((e) => e.ip === q.to) ?? inNets.find((e) => e.name === q.to || e.id === q.to)
      if (!far)
        throw new NotFoundError(
          `no endpoint "${q.to}" in ${nets.map((n) => `network ${n.name}`).join(', ') || 'any network'}`,
          'endpoint_not_found',
        )
      nets = nets.filter((n) => n.id === far!.networkId)
      locals = locals.filter((e) => e.networkId === far!.networkId)
      // a far end on this host is on the path too
      if (far.node === this.s.node && !far.external && !locals.includes(far)) locals.push(far)
      path += ` to ${far.ip} (${far.name}${far.external ? ', external' : far.node ? ` on ${far.node}` : ''})`
    }
    return { nets, locals, far, path }
  }
}
