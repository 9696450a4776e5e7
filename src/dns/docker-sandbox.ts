// Names inside Docker containers. Docker's own resolver owns 127.0.0.11 in its containers and
// forwards every name it does not know (those of containers on other hosts) to the daemon's
// upstream resolvers, dialling them from inside the container's netns. So weft answers there:
// each upstream address becomes a /32 on the container's lo and a listener on its port 53,
// served like any other sandbox (overlay names from the view, the rest forwarded to the
// agent's resolvers from the host's namespace). Docker itself needs no change and keeps
// answering the names of containers on its own host.
//
// The cost: inside the container the upstream addresses are local, so only their port 53
// reaches anything; the addresses go again with the listener (also on an agent's stop: while
// no agent runs, Docker's forwards reach the real upstreams again, over the way out).
import { existsSync, statSync } from 'node:fs'
import type { ClusterView } from '../cluster/index.ts'
import { RtnlSocket, sandboxPath } from '../net/index.ts'
import { ListenError } from './errors.ts'
import { DNS_PORT, listenInSandbox, type QueryHandlers, type SandboxListener } from './listener.ts'

/** The netns paths of this node's Docker containers on weft networks (their endpoints' dockerSandbox). */
export function dockerSandboxes(view: ClusterView, node: string): Set<string> {
  const out = new Set<string>()
  for (const e of view.endpoints.values()) {
    if (e.node !== node || e.plumbing !== 'docker' || !e.dockerSandbox) continue
    try {
      out.add(sandboxPath(e.dockerSandbox))
    } catch {
      continue // a record another agent wrote badly: table.ts skips it as well
    }
  }
  return out
}

/**
 * The addresses Docker forwards to: the IPv4 resolvers it was given (by default dockerd uses
 * the host's resolv.conf, as the agent). Loopback ones are skipped: Docker dials those from
 * the host's namespace, never from the container's.
 */
export function dockerUpstreamAddresses(nameservers: string[]): string[] {
  return [
    ...new Set(
      nameservers.filter((ns) => /^\d+\.\d+\.\d+\.\d+$/.test(ns) && !ns.startsWith('127.')),
    ),
  ]
}

/** Add each address as a /32 on the container's lo and listen on it (port 53, UDP and TCP). */
export async function listenInDockerSandbox(
  path: string,
  handlers: QueryHandlers,
  addresses: string[],
  port = DNS_PORT,
): Promise<SandboxListener> {
  if (!addresses.length)
    throw new ListenError(
      `no IPv4 resolver Docker could forward to from inside container netns ${path}: give the agent's --resolv-conf (and dockerd --dns) a non-loopback IPv4 nameserver`,
    )
  const here = statSync('/proc/self/ns/net')
  const there = statSync(path, { throwIfNoEntry: false })
  if (there && there.dev === here.dev && there.ino === here.ino)
    throw new ListenError(`${path} is the agent's own netns, not a container's: not served`)
  const added: string[] = []
  const listeners: SandboxListener[] = []
  const removeAdded = () => {
    if (!added.length) return
    let rtnl: RtnlSocket
    try {
      rtnl = RtnlSocket.open(path)
    } catch (e) {
      if (!existsSync(path)) return // the container's netns is gone, and its lo with it
      throw e
    }
    try {
      const lo = rtnl.getLink('lo')
      if (lo) for (const a of added.splice(0)) rtnl.deleteAddress(lo.ifindex, a, 32)
    } finally {
      rtnl.close()
    }
  }
  try {
    const rtnl = RtnlSocket.open(path)
    try {
      const lo = rtnl.getLink('lo')
      if (!lo) throw new Error('the container has no lo')
      if (!lo.up) rtnl.setLink('lo', { up: true })
      // one already there is taken as weft's too: an agent killed before it could remove it
      for (const a of addresses) {
        rtnl.replaceAddress(lo.ifindex, a, 32)
        added.push(a)
      }
    } finally {
      rtnl.close()
    }
    for (const a of addresses) listeners.push(await listenInSandbox(path, handlers, port, a))
  } catch (e) {
    for (const l of listeners) l.close()
    removeAdded()
    if (e instanceof ListenError) throw e
    throw new ListenError(`resolver for Docker container netns ${path}: ${(e as Error).message}`, e)
  }
  return {
    close() {
      for (const l of listeners) l.close()
      removeAdded()
    },
  }
}
