// The name table: which names resolve to which addresses in each network, and which
// networks each local sandbox is in, derived from one cluster view (pure). The table is
// rebuilt whenever the view object changes, so an answer never outlives the view it came
// from: a disconnect that reached the view is never answered again.
import {
  EndpointChanges,
  type ClusterView,
  type EndpointRecord,
  type NetworkRecord,
  type ViewChange,
} from '../cluster/index.ts'
import { ipv4ToInt, parseCidr, sandboxPath } from '../net/index.ts'

export interface NetworkNames {
  network: NetworkRecord
  /** name (lower case) -> addresses, in the order the endpoints were created */
  byName: Map<string, string[]>
  /** address -> the endpoint's primary name (for PTR) */
  byIp: Map<string, string>
  /** the subnet as [first, last] address integers (a PTR inside it is ours to answer) */
  range: [number, number]
}

export interface NameTable {
  networks: Map<string, NetworkNames>
  /** netns path of each sandbox on this node -> ids of the networks it is in */
  sandboxes: Map<string, string[]>
}

const DNS_LABELS =
  /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/

/**
 * The names an endpoint resolves by: its name (when it is a DNS name: a path or PID
 * sandbox connected without --name has none) and its aliases, lower case.
 */
export function endpointNames(e: EndpointRecord): string[] {
  const out: string[] = []
  for (const n of [e.name, ...(e.aliases ?? [])]) {
    const lower = n.toLowerCase()
    if (DNS_LABELS.test(lower) && !/^\d+$/.test(lower) && !out.includes(lower)) out.push(lower)
  }
  return out
}

/**
 * The netns path of each sandbox on this node -> ids of its networks (cheap: no table).
 * Docker containers included: their netns is the endpoint's dockerSandbox.
 */
export function localSandboxes(view: ClusterView, node: string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const e of view.endpoints.values()) {
    // a Docker container's netns is Join's SandboxKey (the plugin records it once joined)
    const ref = e.plumbing === 'docker' ? e.dockerSandbox : e.sandbox
    if (e.node !== node || !ref || e.external || !view.networks.has(e.networkId)) continue
    let path: string
    try {
      path = sandboxPath(ref)
    } catch {
      continue // a record another agent wrote badly: not a sandbox of ours to serve
    }
    const nets = out.get(path)
    if (!nets) out.set(path, [e.networkId])
    else if (!nets.includes(e.networkId)) nets.push(e.networkId)
  }
  return out
}

/** One endpoint's part in LocalSandboxIndex. */
interface Contribution {
  /** netns path it serves names in (localSandboxes' rule), with its network */
  path?: string
  networkId: string
  /** netns path of its Docker container (dockerSandboxes' rule) */
  docker?: string
}

/**
 * localSandboxes and dockerSandboxes (./docker-sandbox.ts) of this node, kept up to date at
 * the cost of each view change (EndpointChanges) instead of walking every endpoint per
 * change: in a burst of 3,000 connects that walk was quadratic. Same rules as theirs.
 */
export class LocalSandboxIndex {
  private readonly changes = new EndpointChanges({ networks: true })
  private readonly byEndpoint = new Map<string, Contribution>()
  /** path -> network id -> endpoints of this node serving names there */
  private readonly byPath = new Map<string, Map<string, number>>()
  /** Docker container netns path -> endpoints */
  private readonly dockerPaths = new Map<string, number>()

  constructor(private readonly node: string) {}

  /** Bring the index to `view`; returns the sandbox paths whose part changed ('all' after a rebuild). */
  update(view: ClusterView, change?: ViewChange): Set<string> | 'all' {
    const touched = this.changes.touched(view, change)
    if (touched === 'all') {
      this.byEndpoint.clear()
      this.byPath.clear()
      this.dockerPaths.clear()
      for (const e of view.endpoints.values()) this.add(e.id, this.contribution(view, e))
      return 'all'
    }
    const paths = new Set<string>()
    for (const id of touched) {
      const before = this.byEndpoint.get(id)
      const e = view.endpoints.get(id)
      const after = e && this.contribution(view, e)
      if (before) this.remove(id, before)
      if (after) this.add(id, after)
      for (const c of [before, after]) {
        if (c?.path) paths.add(c.path)
        if (c?.docker) paths.add(c.docker)
      }
    }
    return paths
  }

  /** Every sandbox path of this node that serves names. */
  paths(): IterableIterator<string> {
    return this.byPath.keys()
  }

  has(path: string): boolean {
    return this.byPath.has(path)
  }

  isDocker(path: string): boolean {
    return this.dockerPaths.has(path)
  }

  private contribution(view: ClusterView, e: EndpointRecord): Contribution | undefined {
    if (e.node !== this.node) return undefined
    const c: Contribution = { networkId: e.networkId }
    const ref = e.plumbing === 'docker' ? e.dockerSandbox : e.sandbox
    if (ref && !e.external && view.networks.has(e.networkId)) c.path = pathOf(ref)
    if (e.plumbing === 'docker' && e.dockerSandbox) c.docker = pathOf(e.dockerSandbox)
    return c.path || c.docker ? c : undefined
  }

  private add(id: string, c: Contribution | undefined): void {
    if (!c) return
    this.byEndpoint.set(id, c)
    if (c.path) {
      let nets = this.byPath.get(c.path)
      if (!nets) this.byPath.set(c.path, (nets = new Map()))
      nets.set(c.networkId, (nets.get(c.networkId) ?? 0) + 1)
    }
    if (c.docker) this.dockerPaths.set(c.docker, (this.dockerPaths.get(c.docker) ?? 0) + 1)
  }

  private remove(id: string, c: Contribution): void {
    this.byEndpoint.delete(id)
    if (c.path) {
      const nets = this.byPath.get(c.path)!
      const n = nets.get(c.networkId)! - 1
      if (n > 0) nets.set(c.networkId, n)
      else nets.delete(c.networkId)
      if (nets.size === 0) this.byPath.delete(c.path)
    }
    if (c.docker) {
      const n = this.dockerPaths.get(c.docker)! - 1
      if (n > 0) this.dockerPaths.set(c.docker, n)
      else this.dockerPaths.delete(c.docker)
    }
  }
}

/** A sandbox reference's netns path; undefined for a record another agent wrote badly. */
function pathOf(ref: string): string | undefined {
  try {
    return sandboxPath(ref)
  } catch {
    return undefined
  }
}

export function buildTable(view: ClusterView, node: string): NameTable {
  const networks = new Map<string, NetworkNames>()
  for (const net of view.networks.values()) {
    let range: [number, number]
    try {
      const c = parseCidr(net.subnet)
      range = [ipv4ToInt(c.network), ipv4ToInt(c.broadcast)]
    } catch {
      continue // an unreadable subnet (a broken or newer writer): its names are not answered
    }
    networks.set(net.id, { network: net, byName: new Map(), byIp: new Map(), range })
  }
  const endpoints = [...view.endpoints.values()].sort((a, b) => a.created.localeCompare(b.created))
  for (const e of endpoints) {
    const names = networks.get(e.networkId)
    if (!names) continue
    const all = endpointNames(e)
    for (const n of all) {
      const ips = names.byName.get(n)
      if (ips) ips.push(e.ip)
      else names.byName.set(n, [e.ip])
    }
    if (all[0]) names.byIp.set(e.ip, all[0])
  }
  return { networks, sandboxes: localSandboxes(view, node) }
}
