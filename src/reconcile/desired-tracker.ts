// The desired state kept up to date at the cost of what changed (issue 17). The view's change
// events name the keys put and deleted; the networks they touch are derived again (their
// endpoints from an index by network kept here), and the pass is told which items those
// networks had and have now, so it compares only those. Everything else is derived and compared
// in full: the first derivation, a view whose maps were rebuilt or that changed without a change
// event (tests, a mirror that rebuilt its view after a failed write), a node record's change
// (its endpoints in every network), new peer judgements, and whenever the reconciler asks
// (start, resyncs, errors, the slow safety-net period). Kubernetes' kube-proxy and Cilium do the
// same: incremental updates from events, a full sync now and then.
import { parseKey } from '../cluster/keys.ts'
import type { ClusterView, EndpointRecord } from '../cluster/index.ts'
import type { ViewChange } from '../cluster/view.ts'
import type { LocalEndpointSpec, NetworkSpec, RemoteEndpointSpec } from '../datapath/types.ts'
import {
  endpointsByNetwork,
  networkDesired,
  type DesiredOptions,
  type DesiredState,
  type NetworkDesired,
  type PeerLiveness,
} from './desired.ts'
import { clusterSubnets } from './subnets.ts'

type WithFp<K, S> = Map<K, { spec: S; fp: string }>

/** The desired state with every fingerprint (complete, however it was derived). */
export interface Desired {
  view: ClusterView
  peersVersion: number
  networks: WithFp<number, NetworkSpec>
  local: WithFp<string, LocalEndpointSpec>
  remote: WithFp<string, RemoteEndpointSpec>
  members: Map<number, string[]>
  subnets: DesiredState['subnets']
}

/** The items a pass compares after an incremental derivation: what the changed networks had and have. */
export interface Scope {
  networks: Set<number>
  local: Set<string>
  remote: Set<string>
  members: Set<number>
}

export interface Derivation {
  desired: Desired
  /** 'all' after a full derivation: compare every item. */
  scope: Scope | 'all'
}

/** What one network put into the desired state (to take out again when it changes). */
interface Contribution {
  vni: number
  network: { spec: NetworkSpec; fp: string }
  local: string[]
  remote: string[]
  members: string[]
}

export class DesiredTracker {
  private desired: Desired | undefined
  /** networkId -> ids of the view's endpoints in it */
  private byNetwork = new Map<string, Set<string>>()
  private contributions = new Map<string, Contribution>()
  /** The view as of the last change event heard (a view that differs from it came without one). */
  private fedView: ClusterView | undefined
  private pendingEndpoints: [networkId: string, endpointId: string][] = []
  private pendingNetworks = new Set<string>()
  private fullWanted = true
  /** Full and incremental derivations, and networks derived by the latter (for /metrics and tests). */
  readonly counts = { full: 0, incremental: 0, networks: 0 }

  constructor(
    private readonly me: string,
    private readonly o: DesiredOptions = {},
  ) {}

  /** A change of the view (`view` is the view after it): its networks are derived again. */
  noteChange(change: ViewChange, view: ClusterView): void {
    this.fedView = view
    if (this.fullWanted) return
    for (const key of keysOf(change)) {
      const k = parseKey(key)
      if (k.kind === 'endpoint') this.pendingEndpoints.push([k.networkId, k.endpointId])
      else if (k.kind === 'network') this.pendingNetworks.add(k.id)
      else if (k.kind === 'node') return this.invalidate() // its endpoints, in any network
    }
  }

  /** The next derivation is a full one. */
  invalidate(): void {
    this.fullWanted = true
    this.pendingEndpoints = []
    this.pendingNetworks.clear()
  }

  /** The desired state for `view`; undefined when neither the view nor the peers changed. */
  derive(view: ClusterView, peers: PeerLiveness | undefined): Derivation | undefined {
    const peersVersion = peers?.version() ?? 0
    const had = this.desired
    if (had && had.view === view && had.peersVersion === peersVersion && !this.fullWanted)
      return undefined
    const incremental =
      had &&
      !this.fullWanted &&
      had.peersVersion === peersVersion &&
      view === this.fedView &&
      view.endpoints === had.view.endpoints &&
      view.networks === had.view.networks &&
      view.nodes === had.view.nodes
    if (!incremental) return { desired: this.deriveAll(view, peers, peersVersion), scope: 'all' }
    return { desired: had, scope: this.deriveChanged(view, peers, had) }
  }

  private deriveAll(view: ClusterView, peers: PeerLiveness | undefined, peersVersion: number) {
    this.counts.full++
    this.invalidate()
    this.fullWanted = false
    this.byNetwork.clear()
    this.contributions.clear()
    const d: Desired = {
      view,
      peersVersion,
      networks: new Map(),
      local: new Map(),
      remote: new Map(),
      members: new Map(),
      subnets: clusterSubnets(view.networks),
    }
    for (const [networkId, eps] of endpointsByNetwork(view.endpoints.values())) {
      this.byNetwork.set(networkId, new Set(eps.map((e) => e.id)))
      this.put(d, networkId, networkDesired(view, networkId, eps, this.me, peers, this.o))
    }
    this.desired = d
    return d
  }

  private deriveChanged(view: ClusterView, peers: PeerLiveness | undefined, d: Desired): Scope {
    this.counts.incremental++
    const dirty = this.pendingNetworks
    this.pendingNetworks = new Set()
    for (const [networkId, endpointId] of this.pendingEndpoints) {
      dirty.add(networkId)
      let ids = this.byNetwork.get(networkId)
      if (view.endpoints.get(endpointId)?.networkId === networkId) {
        if (!ids) this.byNetwork.set(networkId, (ids = new Set()))
        ids.add(endpointId)
      } else if (ids) {
        ids.delete(endpointId)
        if (ids.size === 0) this.byNetwork.delete(networkId)
      }
    }
    this.pendingEndpoints = []
    const scope: Scope = {
      networks: new Set(),
      local: new Set(),
      remote: new Set(),
      members: new Set(),
    }
    for (const networkId of dirty) {
      this.counts.networks++
      const old = this.contributions.get(networkId)
      if (old) {
        this.take(d, networkId, old)
        widen(scope, old)
      }
      const eps: EndpointRecord[] = []
      for (const id of this.byNetwork.get(networkId) ?? []) {
        const e = view.endpoints.get(id)
        if (e) eps.push(e)
      }
      const now = this.put(
        d,
        networkId,
        networkDesired(view, networkId, eps, this.me, peers, this.o),
      )
      if (now) widen(scope, now)
    }
    d.view = view
    d.subnets = clusterSubnets(view.networks)
    return scope
  }

  /** Add a network's part to `d` (and remember it); returns what it added. */
  private put(
    d: Desired,
    networkId: string,
    n: NetworkDesired | undefined,
  ): Contribution | undefined {
    if (!n) return undefined
    const vni = n.network.vni
    const c: Contribution = {
      vni,
      network: fingerprinted(n.network),
      local: [],
      remote: [],
      members: n.members,
    }
    d.networks.set(vni, c.network)
    for (const l of n.local) {
      d.local.set(l.hostIfname, fingerprinted(l))
      c.local.push(l.hostIfname)
    }
    for (const r of n.remote) {
      d.remote.set(r.key, fingerprinted(r.spec))
      c.remote.push(r.key)
    }
    d.members.set(vni, n.members)
    this.contributions.set(networkId, c)
    return c
  }

  /** Take a network's earlier part out of `d` (what another network has put since stays). */
  private take(d: Desired, networkId: string, c: Contribution): void {
    this.contributions.delete(networkId)
    if (d.networks.get(c.vni) === c.network) d.networks.delete(c.vni)
    if (d.members.get(c.vni) === c.members) d.members.delete(c.vni)
    for (const k of c.local) d.local.delete(k)
    for (const k of c.remote) d.remote.delete(k)
  }
}

function widen(scope: Scope, c: Contribution): void {
  scope.networks.add(c.vni)
  scope.members.add(c.vni)
  for (const k of c.local) scope.local.add(k)
  for (const k of c.remote) scope.remote.add(k)
}

function* keysOf(change: ViewChange): Iterable<string> {
  for (const e of change.put) yield e.key
  yield* change.deleted
}

/**
 * Desired specs (and the cluster's subnet list) with their fingerprints, by object: desiredState
 * hands out the same object while it is unchanged, so a pass fingerprints only what changed.
 * (The datapath's actual state is fingerprinted afresh: its objects are not ours.)
 */
const fingerprints = new WeakMap<object, { spec: object; fp: string }>()

export function fingerprinted<S extends object>(spec: S): { spec: S; fp: string } {
  let had = fingerprints.get(spec) as { spec: S; fp: string } | undefined
  if (!had) fingerprints.set(spec, (had = { spec, fp: JSON.stringify(spec) }))
  return had
}
