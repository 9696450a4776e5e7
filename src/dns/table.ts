// The name table: which names resolve to which addresses in each network, and which
// networks each local sandbox is in, derived from one cluster view (pure). The table is
// rebuilt whenever the view object changes, so an answer never outlives the view it came
// from: a disconnect that reached the view is never answered again.
import type { ClusterView, EndpointRecord, NetworkRecord } from '../cluster/index.ts'
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
