// The drift guard: a Datapath in front of the real one that remembers what was programmed
// (the last successful upsert/attach/setMembers of each item) and, each time the reconciler
// reads the actual state, compares the kernel with it. What differs is drift: it is logged,
// reported to the reconciler as "not held" (so the next pass programs it again, with the
// same idempotent calls it always uses), and counted as repaired once that call succeeds.
// The datapath's own base (pins, underlay link, config, wfgro) is put back here at once.
//
// Design notes (2026-12, issue 12 item 3): the comparison sits in front of the datapath rather
// than in the reconciler, so the reconciler keeps one model (desired vs held) and both
// datapaths get the same checks. What neither datapath can tell from its own tables (the
// endpoint program's filter on a veth, the sandbox end's link/address/route) is read here over
// rtnetlink. A deleted sandbox is not drift (its endpoints are released, issue 12 item 2).
//
// When drift is seen, at the latest (the repair is the reconciler pass that asked, or the one
// askCompare starts; P is the listener's period, 5 s unless 10x the last sweep's wall time is
// longer):
// - announced in the host's rtnetlink groups (listener.ts): a deleted weft link (veth, wfgro,
//   the kernel datapath's bridge/vxlan), a deleted or replaced endpoint filter or its qdisc, a
//   deleted FDB/neighbour entry, the underlay's link or address: its 0.1 s poll, then a pass;
// - map-entry, pin, underlay-link (BPF state announces nothing): the periodic comparison, P;
// - sandbox-link, sandbox-address, sandbox-route, a deleted sandbox end (kind veth): the sweep
//   of every sandbox end, started by the periodic comparison: P plus the sweep's wall time;
// - tc-filter if its notification were lost without ENOBUFS (which has every veth's filter
//   dumped): the backstop, FILTER_BACKSTOP_SHARES comparisons (6 P).
import { existsSync } from 'node:fs'
import { getLibc } from '../sys/index.ts'
import type {
  ActualState,
  Datapath,
  DatapathFault,
  LocalEndpointSpec,
  NetworkSpec,
  RemoteEndpointSpec,
  VniStats,
} from '../datapath/types.ts'
import { parseCidr, sandboxPath } from '../net/index.ts'
import { dropSandboxAddress, hasEndpointFilter, readSandboxEnds } from './kernel-reads.ts'
import { RepairBook, type Repair, type RepairKind } from './repairs.ts'
import { RtnlChannel } from './rtnl.ts'

export interface DriftGuardOptions {
  repairs: RepairBook
  /** This host's VTEP: never a member of its own VNIs (both datapaths leave it out). */
  advertise: string
  log?: { info: (o: object, m?: string) => void; warn: (o: object, m?: string) => void }
  /**
   * Without a listener asking (hintSandbox), every sandbox end is read when the last full read
   * is this old (default 5 s).
   */
  sandboxCheckMs?: number
  now?: () => number
}

interface Found {
  kind: RepairKind
  detail: string
  foundAt: number
  /** sandbox-route: the sandbox end's ifindex, whose address is re-added to bring the route back. */
  sandboxIfindex?: number
  /**
   * Found outside a reconciler pass (the background sweep of every sandbox end, or check()):
   * left out of each comparison until repaired, so the pass that follows re-attaches it even
   * when its own comparison does not read that part again.
   */
  keptOut?: boolean
}

const remoteKey = (vni: number, ip: string) => `${vni}/${ip}`

/** Remote endpoints by VNI, then IP. */
type RemoteByVni = Map<number, Map<string, RemoteEndpointSpec>>

function putByVniIp(map: RemoteByVni, ep: RemoteEndpointSpec): void {
  let byIp = map.get(ep.vni)
  if (!byIp) map.set(ep.vni, (byIp = new Map()))
  byIp.set(ep.ip, ep)
}

/**
 * The sandbox's netns path, or undefined when weft does not own the sandbox end (Docker plumbs
 * it: the sandbox is Docker's, and so are its address and routes).
 */
function sandboxOf(e: LocalEndpointSpec): string | undefined {
  return e.plumbing === 'docker' || !e.sandbox ? undefined : sandboxPath(e.sandbox)
}

/**
 * The endpoint filter of every host veth is dumped at one comparison in this many (by a slot
 * from its name), besides the veths the listener names. Every way to remove or replace a tc
 * filter is announced in the host's rtnetlink groups (RTM_DELTFILTER, RTM_DELQDISC, or
 * RTM_NEWTFILTER with another program), and a lost notification (ENOBUFS) has every veth
 * dumped, so this is a backstop, not the detection: one dump per veth at every comparison was
 * a fifth of an agent's CPU at rest with 1,000 endpoints.
 */
export const FILTER_BACKSTOP_SHARES = 6

/** A veth's slot among FILTER_BACKSTOP_SHARES: stable for its name (a short string hash). */
function filterSlot(hostIfname: string): number {
  let h = 0
  for (let i = 0; i < hostIfname.length; i++) h = (h * 31 + hostIfname.charCodeAt(i)) | 0
  return (h >>> 0) % FILTER_BACKSTOP_SHARES
}

/** A network's subnet parsed once per spec (the reconciler hands over a new spec when it changes). */
const subnets = new WeakMap<NetworkSpec, ReturnType<typeof parseCidr>>()
function subnetOf(net: NetworkSpec): ReturnType<typeof parseCidr> {
  let s = subnets.get(net)
  if (!s) subnets.set(net, (s = parseCidr(net.subnet)))
  return s
}

/** membersKey's strings, by the datapath's object (see DriftGuard.membersKey). */
const membersKeys = new WeakMap<object, string>()

/** Kernel reads are synchronous: let API requests in between every so many endpoints. */
const YIELD_EVERY = 32
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

const FAULT_KIND: Record<DatapathFault['part'], RepairKind> = {
  pin: 'pin',
  'underlay-link': 'underlay-link',
  config: 'map-entry',
  gro: 'gro',
}

export class DriftGuard implements Datapath {
  readonly kind: Datapath['kind']
  // The specs as programmed: the reconciler's own objects (it never changes a spec it handed
  // over; a changed endpoint is a new object), not copies: at 3,000 endpoints a copy per item
  // was ~2,000 more long-lived objects per host.
  private readonly networks = new Map<number, NetworkSpec>()
  private readonly local = new Map<string, LocalEndpointSpec>()
  /** VNI -> IP -> spec: no "vni/ip" string per remote endpoint (those are built only for drift). */
  private readonly remote: RemoteByVni = new Map()
  private readonly members = new Map<number, string>()
  /** Drift seen and not yet put back, by item ("network 256", "local wf…", "remote 256/10.0.0.2", "members 256", "base …"). */
  private readonly found = new Map<string, Found>()
  /** Sandboxes (by path) to read at the next comparison; '*' for all. */
  private readonly sandboxHints = new Set<string>()
  /** Deleted kernel-datapath entries the rtnetlink listener heard of, to name the kind of a missing remote. */
  private readonly neighHints = new Map<string, 'fdb' | 'neighbour'>()
  /** Host veths (by ifindex) whose endpoint filter the next comparison dumps; all of them at the first. */
  private readonly filterHints = new Set<number>()
  private filterHintAll = true
  /** Comparisons made: which share of the veths has its filter dumped as the backstop. */
  private compares = 0
  /** The filter hints the last comparison took (a check that is not trusted puts them back). */
  private filtersTaken?: { all: boolean; ifindexes: Set<number>; slot: number }
  private lastFullSandboxCheck = 0
  /** The last full comparison (the sweep of every sandbox end): its own time, its wall time (with what ran in its yields), endpoints. */
  lastFullCompare = { ms: 0, wallMs: 0, endpoints: 0 }
  /** The sweep under way, if any (see sweepSandboxes). */
  private sweep: Promise<void> | undefined
  /** Asks for a comparison (the listener's, i.e. a reconciler pass that re-reads the kernel). */
  askCompare: (() => void) | undefined
  private host: RtnlChannel | undefined
  private readonly now: () => number
  /** One comparison at a time: check() runs beside the reconciler's reads. */
  private comparing: Promise<unknown> = Promise.resolve()
  /** close() has begun: no check starts a comparison after it. */
  private closed = false
  /** Mutations under way, and how many have started: a check() they overlap is not trusted. */
  private mutating = 0
  private mutations = 0
  /** `mutations` at the last check(): a check after changes asks for the pass without comparing. */
  private mutationsChecked = -1
  /** While check() compares: what it saw, recorded only if no mutation overlapped it. */
  private seen:
    { item: string; kind: RepairKind; detail: string; sandboxIfindex?: number }[] | undefined
  /** Base faults seen (check() asks for a pass after one was put back). */
  private baseFaults = 0
  /** Why the last check() asked for a reconciler pass ('' when it did not): tests, doctor. */
  lastCheck = { at: 0, reason: '' }

  constructor(
    readonly inner: Datapath,
    private readonly opts: DriftGuardOptions,
  ) {
    this.kind = inner.kind
    this.now = opts.now ?? Date.now
    // a guard must not hide what the datapath can do: the reconciler asks for these by presence
    if (inner.setClusterSubnets)
      this.setClusterSubnets = (subnets) => inner.setClusterSubnets!(subnets)
  }

  // --- what the listener tells ------------------------------------------------------------

  /** Read this sandbox's endpoints (or every sandbox, without a path) at the next comparison. */
  hintSandbox(path?: string): void {
    this.sandboxHints.add(path ?? '*')
  }

  /** Dump the endpoint filter of this host veth (every one, without an ifindex) at the next comparison. */
  hintFilter(ifindex?: number): void {
    if (ifindex === undefined) this.filterHintAll = true
    else this.filterHints.add(ifindex)
  }

  /** A kernel-datapath FDB entry (by MAC) or neighbour (by VNI/IP) was deleted. */
  hintNeighbour(kind: 'fdb' | 'neighbour', id: string): void {
    this.neighHints.set(id, kind)
    if (this.neighHints.size > 4096) this.neighHints.clear()
  }

  /** Sandbox paths that hold endpoints this guard programmed (the listener follows them). */
  sandboxPaths(): string[] {
    return [
      ...new Set(
        [...this.local.values()].map(sandboxOf).filter((p): p is string => p !== undefined),
      ),
    ]
  }

  /** Drift seen and not yet repaired (for `weft doctor`). */
  unrepaired(): { kind: RepairKind; detail: string; since: number }[] {
    return [...this.found.values()].map((f) => ({
      kind: f.kind,
      detail: f.detail,
      since: f.foundAt,
    }))
  }

  // --- Datapath: mutations remember what was programmed --------------------------------

  /** Run a mutation of the datapath, counted (see check()). */
  private async mutate<T>(fn: () => Promise<T>): Promise<T> {
    this.mutating++
    this.mutations++
    try {
      return await fn()
    } finally {
      this.mutating--
    }
  }

  start(): Promise<void> {
    return this.inner.start()
  }

  upsertNetwork(net: NetworkSpec): Promise<void> {
    return this.mutate(async () => {
      await this.inner.upsertNetwork(net)
      this.networks.set(net.vni, net)
      this.repaired(`network ${net.vni}`)
    })
  }

  removeNetwork(vni: number): Promise<void> {
    return this.mutate(async () => {
      await this.inner.removeNetwork(vni)
      this.networks.delete(vni)
      this.members.delete(vni)
      this.forget(`network ${vni}`)
      this.forget(`members ${vni}`)
      for (const ip of this.remote.get(vni)?.keys() ?? [])
        this.forget(`remote ${remoteKey(vni, ip)}`)
      this.remote.delete(vni)
      for (const [k, e] of this.local)
        if (e.vni === vni) (this.local.delete(k), this.forget(`local ${k}`))
    })
  }

  attachEndpoint(ep: LocalEndpointSpec): Promise<{ ifindex: number }> {
    return this.mutate(async () => {
      const f = this.found.get(`local ${ep.hostIfname}`)
      if (f?.kind === 'sandbox-route' && f.sandboxIfindex !== undefined) {
        const net = this.networks.get(ep.vni)
        if (net)
          dropSandboxAddress(
            sandboxPath(ep.sandbox),
            f.sandboxIfindex,
            ep.ip,
            parseCidr(net.subnet).prefixLen,
          )
      }
      const r = await this.inner.attachEndpoint(ep)
      this.local.set(ep.hostIfname, ep)
      this.repaired(`local ${ep.hostIfname}`)
      return r
    })
  }

  detachEndpoint(ep: { vni: number; ip: string; hostIfname?: string }): Promise<void> {
    return this.mutate(async () => {
      await this.inner.detachEndpoint(ep)
      if (ep.hostIfname !== undefined) {
        this.local.delete(ep.hostIfname)
        this.forget(`local ${ep.hostIfname}`)
      }
    })
  }

  upsertRemoteEndpoint(ep: RemoteEndpointSpec): Promise<void> {
    return this.mutate(async () => {
      await this.inner.upsertRemoteEndpoint(ep)
      putByVniIp(this.remote, ep)
      this.repaired(`remote ${remoteKey(ep.vni, ep.ip)}`)
    })
  }

  removeRemoteEndpoint(ep: { vni: number; ip: string }): Promise<void> {
    return this.mutate(async () => {
      await this.inner.removeRemoteEndpoint(ep)
      const byIp = this.remote.get(ep.vni)
      byIp?.delete(ep.ip)
      if (byIp?.size === 0) this.remote.delete(ep.vni)
      this.forget(`remote ${remoteKey(ep.vni, ep.ip)}`)
    })
  }

  setMembers(vni: number, vteps: string[]): Promise<void> {
    return this.mutate(async () => {
      await this.inner.setMembers(vni, vteps)
      this.members.set(
        vni,
        vteps
          .filter((v) => v !== this.opts.advertise)
          .sort()
          .join(','),
      )
      this.repaired(`members ${vni}`)
    })
  }

  stats(): Promise<VniStats[]> {
    return this.inner.stats()
  }

  /** Optional methods of the datapath are the inner one's (present only where it has them). */
  declare setClusterSubnets?: Datapath['setClusterSubnets']

  async close(): Promise<void> {
    this.closed = true
    await this.swept()
    // a check runs outside the reconciler's passes: let it finish before its socket goes
    await this.comparing
    this.host?.close()
    this.host = undefined
    await this.inner.close()
  }

  teardown(): Promise<void> {
    return this.inner.teardown()
  }

  // --- the comparison ----------------------------------------------------------------------

  /**
   * The kernel's state, with drifted items left out (so the reconciler programs them again).
   * Base faults are repaired before it returns.
   */
  async actual(): Promise<ActualState> {
    if (this.fullSandboxCheckDue()) this.startSweep()
    return this.serialised(() => this.compare())
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.comparing.then(fn)
    // the chain only orders comparisons: the caller gets `next`, and with it any error
    this.comparing = next.then(ignoreOutcome, ignoreOutcome)
    return next
  }

  /**
   * The periodic comparison on its own, without a reconciler pass: one read of the kernel,
   * compared with what was programmed, and a pass asked for (askCompare) only when something
   * differs: drift seen and not yet put back, a base fault put back, an item the kernel holds
   * that was not programmed here (the pass removes it), or a mutation that overlapped the
   * comparison (what it saw may be the mutation half done: the pass compares again). After
   * mutations since the last check (a converge) it asks for the pass at once, as before.
   * At rest every 5 s the pass re-read the kernel a second time and compared every item, to
   * find nothing to do (the agent's 5 s CPU and RSS spikes). Returns why it asked ('' if not).
   */
  async check(): Promise<string> {
    if (this.closed) return ''
    if (this.fullSandboxCheckDue()) this.startSweep()
    const reason = await this.serialised(async () => {
      // while the reconciler programs (a converge) its own passes compare: a check's comparison
      // would be one more read of the kernel each period, thrown away
      if (this.closed) return ''
      if (this.mutating > 0) return 'a mutation under way'
      if (this.mutations !== this.mutationsChecked) {
        this.mutationsChecked = this.mutations
        return 'mutations since the last check'
      }
      const mutations = this.mutations
      const faults = this.baseFaults
      const compares = this.compares
      const seen: NonNullable<DriftGuard['seen']> = (this.seen = [])
      let a: ActualState
      try {
        a = await this.compare()
      } finally {
        this.seen = undefined
      }
      if (this.mutating > 0 || this.mutations !== mutations) {
        // not trusted: the filter hints it took (also any named while it read) go back for the
        // pass's own comparison, and its backstop share is the next comparison's again
        const took = this.compares !== compares ? this.filtersTaken : undefined
        if (took) {
          if (took.all) this.filterHintAll = true
          for (const i of took.ifindexes) this.filterHints.add(i)
          this.compares--
        }
        return 'a mutation overlapped the comparison'
      }
      for (const f of seen) {
        this.see(f.item, f.kind, f.detail, f.sandboxIfindex)
        const found = this.found.get(f.item)
        if (found) found.keptOut = true
      }
      if (this.baseFaults !== faults) return 'a base fault was put back'
      const first = this.found.values().next()
      if (!first.done) return `drift not yet put back (${this.found.size}; ${first.value.detail})`
      return this.unknownIn(a)
    })
    this.lastCheck = { at: this.now(), reason }
    if (reason) this.askCompare?.()
    return reason
  }

  /** What the kernel holds that was never programmed here (or whose veth is gone): '' if nothing. */
  private unknownIn(a: ActualState): string {
    for (const n of a.networks)
      if (!this.networks.has(n.vni)) return `the kernel holds network VNI ${n.vni}, not programmed`
    for (const e of a.localEndpoints) {
      if (e.hostIfname === undefined)
        return `the kernel holds endpoint ${e.ip} in VNI ${e.vni} without its veth`
      if (!this.local.has(e.hostIfname))
        return `the kernel holds endpoint ${e.hostIfname}, not programmed`
    }
    for (const r of a.remoteEndpoints)
      if (!this.remote.get(r.vni)?.has(r.ip))
        return `the kernel holds remote endpoint ${r.ip} in VNI ${r.vni}, not programmed`
    for (const m of a.members)
      if (!this.members.has(m.vni) && m.vteps.some((v) => v !== this.opts.advertise))
        return `the kernel holds members of VNI ${m.vni}, not programmed`
    return ''
  }

  /** The sweep has finished (tests, and a stop that must not leave it reading). */
  swept(): Promise<void> {
    return this.sweep ?? Promise.resolve()
  }

  private fullSandboxCheckDue(): boolean {
    return (
      this.sandboxHints.has('*') ||
      this.now() - this.lastFullSandboxCheck >= (this.opts.sandboxCheckMs ?? 5000)
    )
  }

  private async compare(): Promise<ActualState> {
    let a = await this.inner.actual()
    if (a.faults?.length) a = await this.repairBase(a)
    const bpf = this.kind === 'bpf'

    const networks = a.networks.filter((n) => {
      const want = this.networks.get(n.vni)
      if (!want) return true
      const altered =
        (n.subnet !== undefined && n.subnet !== subnetOf(want).cidr) ||
        (n.gateway !== undefined && n.gateway !== want.gateway) ||
        (n.mtu !== undefined && n.mtu !== want.mtu)
      if (altered)
        this.note(
          `network ${n.vni}`,
          'map-entry',
          `the entry of network VNI ${n.vni} (vx_nets) was altered`,
        )
      return !altered
    })
    const held = new Set(a.networks.map((n) => n.vni))
    for (const vni of this.networks.keys()) {
      if (!held.has(vni)) {
        this.note(
          `network ${vni}`,
          bpf ? 'map-entry' : 'network-device',
          bpf
            ? `the entry of network VNI ${vni} (vx_nets) was deleted`
            : `the bridge or vxlan device of network VNI ${vni} was deleted`,
        )
      }
    }

    const byName = new Map(
      a.localEndpoints.filter((e) => e.hostIfname !== undefined).map((e) => [e.hostIfname!, e]),
    )
    const dropped = new Set<string>()
    const filters = this.takeFilterHints()
    // once per sandbox, not per endpoint (a sandbox holds ~10)
    const sandboxThere = new Map<string, boolean>()
    const there = (path: string) => {
      let yes = sandboxThere.get(path)
      if (yes === undefined) sandboxThere.set(path, (yes = existsSync(path)))
      return yes
    }
    let n = 0
    for (const [name, want] of this.local) {
      if (++n % YIELD_EVERY === 0) await this.yieldNow()
      const sandbox = sandboxOf(want)
      if (sandbox !== undefined && !there(sandbox)) continue // the sandbox is gone: released, not repaired
      const e = byName.get(name)
      // named only when drifted: a string per endpoint per comparison was most of its garbage
      const what = () => `endpoint ${want.id.slice(0, 12)} (${name}, ${want.ip} in VNI ${want.vni})`
      if (!e) {
        const vethGone = getLibc().ifNameToIndex(name) === 0
        if (vethGone) this.note(`local ${name}`, 'veth', `the host veth of ${what()} was deleted`)
        else
          this.note(
            `local ${name}`,
            bpf ? 'map-entry' : 'veth',
            bpf ? `the veth entry (vx_ifs) of ${what()} was deleted` : `${what()} left its bridge`,
          )
        continue
      }
      if (e.vni !== want.vni || e.ip !== want.ip || (e.mac !== undefined && e.mac !== want.mac)) {
        this.note(`local ${name}`, 'map-entry', `the veth entry (vx_ifs) of ${what()} was altered`)
        dropped.add(name)
      } else if (e.forwarding === false) {
        this.note(
          `local ${name}`,
          'map-entry',
          `the address entry (vx_eps) of ${what()} was deleted or altered`,
        )
        dropped.add(name)
      } else if (
        bpf &&
        (filters.all ||
          filters.ifindexes.has(e.ifindex) ||
          filterSlot(name) === filters.slot ||
          (this.found.size > 0 && this.found.has(`local ${name}`))) &&
        !hasEndpointFilter(this.hostChannel(), e.ifindex)
      ) {
        this.note(
          `local ${name}`,
          'tc-filter',
          `the endpoint program's filter on ${name} was removed (${what()})`,
        )
        dropped.add(name)
      }
    }
    await this.checkSandboxes(dropped, this.takeHints())
    // what the background sweep found stays out until an attach puts it back
    for (const [item, f] of this.found)
      if (f.keptOut && item.startsWith('local ')) dropped.add(item.slice('local '.length))
    const localEndpoints = a.localEndpoints.filter(
      (e) => e.hostIfname === undefined || !dropped.has(e.hostIfname),
    )

    // at rest every wanted entry is held as programmed: counted without a map of what is held
    let wantedRemote = 0
    for (const byIp of this.remote.values()) wantedRemote += byIp.size
    let asProgrammed = 0
    for (const r of a.remoteEndpoints) {
      const want = this.remote.get(r.vni)?.get(r.ip)
      if (want && r.mac === want.mac && r.vtep === want.vtep) asProgrammed++
    }
    const remoteHeld: RemoteByVni = new Map()
    if (asProgrammed !== wantedRemote) for (const r of a.remoteEndpoints) putByVniIp(remoteHeld, r)
    for (const [vni, wanted] of asProgrammed === wantedRemote ? [] : this.remote) {
      const held = remoteHeld.get(vni)
      for (const want of wanted.values()) {
        const r = held?.get(want.ip)
        if (r && r.mac === want.mac && r.vtep === want.vtep) continue
        this.seeRemote(want, r !== undefined, bpf)
      }
    }
    const membersHeld = new Map(a.members.map((m) => [m.vni, m]))
    for (const [vni, want] of this.members) {
      const m = membersHeld.get(vni)
      if (!held.has(vni) || (m && this.membersKey(m) === want)) continue
      this.note(
        `members ${vni}`,
        bpf ? 'map-entry' : 'fdb',
        bpf
          ? `the member VTEPs of VNI ${vni} (vx_members) were changed`
          : `the flood entries (FDB) of VNI ${vni} were changed`,
      )
    }
    this.neighHints.clear()
    return { ...a, networks, localEndpoints }
  }

  /** Put back the datapath's base (start() is idempotent and repairs), then read again. */
  private async repairBase(a: ActualState): Promise<ActualState> {
    const before = a.faults ?? []
    this.baseFaults += before.length
    for (const f of before) this.see(`base ${f.detail}`, FAULT_KIND[f.part], f.detail)
    try {
      await this.inner.start()
    } catch (e) {
      this.opts.log?.warn(
        { err: (e as Error).message },
        'putting back the datapath base failed; retried at the next comparison',
      )
    }
    const after = await this.inner.actual()
    const still = new Set((after.faults ?? []).map((f) => f.detail))
    for (const f of before) if (!still.has(f.detail)) this.repaired(`base ${f.detail}`)
    return after
  }

  /** What the listener named since the last comparison, and this comparison's backstop share. */
  private takeFilterHints(): { all: boolean; ifindexes: Set<number>; slot: number } {
    const taken = {
      all: this.filterHintAll,
      ifindexes: new Set(this.filterHints),
      slot: this.compares++ % FILTER_BACKSTOP_SHARES,
    }
    this.filterHintAll = false
    this.filterHints.clear()
    this.filtersTaken = taken
    return taken
  }

  /** Sandboxes an event named since the last comparison (the '*' of a full one is the sweep's). */
  private takeHints(): Set<string> {
    const hinted = new Set(this.sandboxHints)
    this.sandboxHints.clear()
    hinted.delete('*')
    return hinted
  }

  /**
   * Every sandbox end is read by a sweep beside the reconciler, not inside its pass: with
   * hundreds of local endpoints on a busy host the sweep's wall time is seconds (a setns and
   * three dumps per endpoint, with yields), and every connect's attach waited behind it.
   * What it finds is reported through askCompare; the next comparison leaves it out.
   */
  private startSweep(): void {
    this.lastFullSandboxCheck = this.now()
    this.sandboxHints.delete('*')
    if (this.sweep) return
    const t0 = performance.now()
    const yielded = { ms: 0 }
    const endpoints = this.local.size
    this.sweep = (async () => {
      const found = new Set<string>()
      // the sweep runs beside check(): what it sees goes to the book, not to check()'s list
      await this.checkSandboxes(found, undefined, yielded, (...a) => this.see(...a))
      for (const name of found) {
        const f = this.found.get(`local ${name}`)
        if (f) f.keptOut = true
      }
      // the sweep's own cost: the time other work ran in its yields is not its
      this.lastFullCompare = {
        ms: performance.now() - t0 - yielded.ms,
        wallMs: performance.now() - t0,
        endpoints,
      }
      if (found.size) this.askCompare?.()
    })()
      .catch((e) =>
        this.opts.log?.warn(
          { err: (e as Error).message },
          'reading the sandbox ends failed; read again at the next full comparison',
        ),
      )
      .finally(() => (this.sweep = undefined))
  }

  /** Read the sandbox end of endpoints in these sandboxes (every one without `only`); what drifted goes into `dropped`. */
  private async checkSandboxes(
    dropped: Set<string>,
    only: Set<string> | undefined,
    yielded = { ms: 0 },
    note: DriftGuard['see'] = (...a) => this.note(...a),
  ): Promise<void> {
    if (only?.size === 0) return
    // by sandbox: one socket and one dump of each kind per sandbox, not per endpoint
    const bySandbox = new Map<string, { name: string; want: LocalEndpointSpec }[]>()
    let n = 0
    // a copy: attaches and detaches go on while the sweep yields
    for (const [name, want] of [...this.local]) {
      const path = sandboxOf(want)
      if (path === undefined || (only && !only.has(path))) continue
      if (!this.networks.has(want.vni)) continue
      let list = bySandbox.get(path)
      if (!list) bySandbox.set(path, (list = []))
      list.push({ name, want })
    }
    for (const [path, all] of bySandbox) {
      if (n >= YIELD_EVERY) {
        n = 0
        yielded.ms += await this.yieldNow()
      }
      // what is still as it was after the yields, and not already known to have drifted
      const list = all.filter(
        ({ name, want }) =>
          !dropped.has(name) &&
          this.local.get(name) === want &&
          !(this.found.size > 0 && this.found.has(`local ${name}`)) &&
          this.networks.has(want.vni),
      )
      n += list.length
      if (list.length === 0 || !existsSync(path)) continue
      const subnets = list.map(({ want }) => subnetOf(this.networks.get(want.vni)!))
      let ends
      try {
        ends = readSandboxEnds(
          path,
          list.map(({ want }, i) => ({
            ifname: want.ifname,
            ip: want.ip,
            subnet: { network: subnets[i]!.network, prefixLen: subnets[i]!.prefixLen },
          })),
        )
      } catch (e) {
        this.opts.log?.warn(
          { sandbox: path, err: (e as Error).message },
          'reading a sandbox end failed; it is read again at the next comparison',
        )
        continue
      }
      list.forEach(({ name, want }, i) => {
        const end = ends[i]!
        const subnet = subnets[i]!
        const what = () =>
          `${want.ifname} of endpoint ${want.id.slice(0, 12)} in sandbox ${want.sandbox}`
        if (end.ifindex === undefined) {
          note(`local ${name}`, 'veth', `${what()} was deleted`)
        } else if (!end.up) {
          note(`local ${name}`, 'sandbox-link', `${what()} was set down`)
        } else if (!end.address) {
          note(
            `local ${name}`,
            'sandbox-address',
            `the address ${want.ip}/${subnet.prefixLen} of ${what()} was removed`,
          )
        } else if (!end.route) {
          note(
            `local ${name}`,
            'sandbox-route',
            `the route to ${subnet.cidr} via ${what()} was removed`,
            end.ifindex,
          )
        } else return
        dropped.add(name)
      })
    }
  }

  /**
   * A VNI's member VTEPs as one string, without this host's: the datapath hands out the same
   * object while the kernel's members are unchanged, so it is joined once, not at each check.
   */
  private membersKey(m: ActualState['members'][number]): string {
    let key = membersKeys.get(m)
    if (key === undefined) {
      key = m.vteps
        .filter((v) => v !== this.opts.advertise)
        .sort()
        .join(',')
      membersKeys.set(m, key)
    }
    return key
  }

  /** Let other work run; returns how long it ran. */
  private async yieldNow(): Promise<number> {
    const t = performance.now()
    await yieldToEventLoop()
    return performance.now() - t
  }

  private hostChannel(): RtnlChannel {
    this.host ??= RtnlChannel.open()
    return this.host
  }

  /** A remote endpoint's entry is not as programmed (`altered` when the kernel holds another). */
  private seeRemote(want: RemoteEndpointSpec, altered: boolean, bpf: boolean): void {
    const key = remoteKey(want.vni, want.ip)
    const what = `remote endpoint ${want.ip} in VNI ${want.vni} (via ${want.vtep})`
    const was = altered ? 'altered' : 'deleted'
    if (bpf) {
      this.note(`remote ${key}`, 'map-entry', `the entry (vx_eps) of ${what} was ${was}`)
      return
    }
    const hint = this.neighHints.get(key) ?? this.neighHints.get(want.mac) ?? 'fdb'
    this.note(
      `remote ${key}`,
      hint,
      `the ${hint === 'fdb' ? 'FDB entry' : 'neighbour entry'} of ${what} was ${was}`,
    )
  }

  // --- the book ----------------------------------------------------------------------------

  /** What a comparison saw: the book's at once, or check()'s until it knows it can trust it. */
  private note(item: string, kind: RepairKind, detail: string, sandboxIfindex?: number): void {
    if (this.seen) this.seen.push({ item, kind, detail, sandboxIfindex })
    else this.see(item, kind, detail, sandboxIfindex)
  }

  private see(item: string, kind: RepairKind, detail: string, sandboxIfindex?: number): void {
    const had = this.found.get(item)
    if (had?.detail === detail) return
    this.found.set(item, { kind, detail, foundAt: had?.foundAt ?? this.now(), sandboxIfindex })
    this.opts.log?.warn({ kind, item }, `drift: ${detail}; putting it back`)
  }

  private repaired(item: string): void {
    const f = this.found.get(item)
    if (!f) return
    this.found.delete(item)
    const r: Repair = { kind: f.kind, detail: f.detail, foundAt: f.foundAt, repairedAt: this.now() }
    this.opts.repairs.record(r)
    this.opts.log?.info(
      { kind: f.kind, item, ms: r.repairedAt - r.foundAt },
      `drift repaired: ${f.detail}`,
    )
  }

  private forget(item: string): void {
    this.found.delete(item)
  }
}

/** The comparisons' ordering chain keeps going whatever one comparison's outcome was. */
function ignoreOutcome(): void {}
