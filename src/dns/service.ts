// Names for the agent: answers every local sandbox's queries from the cluster view this
// agent mirrors. One resolver address per sandbox (127.0.0.11:53 inside it) opened when the
// sandbox's first endpoint appears in the view, closed with its last one or when its netns
// file goes; overlay names answered from the name table, everything else forwarded to the
// host's resolvers.
//
// Design notes (2026-12):
// - Freshness: the table is a function of the view object. Every query compares the view it
//   would answer from with the one the table was built from and rebuilds on a change, so an
//   answer is never older than the view (a disconnect in the view is NXDOMAIN at once); a
//   remote host is as fresh as its watch (measured in bench/dns.ts). TTL 1 s.
// - Path: a listener in each sandbox, not BPF steering on the endpoint veth: no packet
//   rewriting, TCP for free, and queries never leave the sandbox's loopback. Its cost: a
//   socket holds the sandbox's netns alive, so the listener closes as soon as the netns file
//   is gone (checked every second), letting the kernel free the netns and its veth.
// - Docker containers: Docker's resolver holds 127.0.0.11 there and forwards what it does not
//   know from inside the container to its upstreams; weft listens on those (docker-sandbox.ts).
// - Restarts: the sockets close with the agent; a new agent opens them again from its mirror
//   before the store answers. Queries in between get ICMP port unreachable (fail at once).
import { statSync } from 'node:fs'
import type { ClusterView, ViewChange } from '../cluster/index.ts'
import type { Logger } from '../log.ts'
import { resolve } from './answer.ts'
import { encodeAnswer, encodeError, parseQuery, RCODE, type Query } from './codec.ts'
import { dockerUpstreamAddresses, listenInDockerSandbox } from './docker-sandbox.ts'
import { DNS_PORT, LISTEN_ADDRESS, listenInSandbox, type SandboxListener } from './listener.ts'
import {
  ensureNetnsResolvConf,
  ETC_NETNS,
  netnsName,
  removeNetnsResolvConf,
  removeOrphanedResolvConfs,
} from './netns-resolv-conf.ts'
import { buildTable, LocalSandboxIndex, type NameTable } from './table.ts'
import { Forwarder, resolvConfReader } from './upstream.ts'

/** Answers carry this TTL (seconds): resolvers in sandboxes must not keep old addresses long. */
export const ANSWER_TTL_S = 1
/** How often sandboxes are checked for a vanished or replaced netns file (and /etc/netns for orphans). */
const CHECK_EVERY_MS = 1000

export interface NamesOptions {
  node: string
  /** The agent's current cluster view (read on every query and every sync). */
  view: () => ClusterView
  /** resolv.conf listing the host's resolvers (forwarding targets). */
  resolvConf: string
  log: Logger
  /** Tests and benches may move these; the product uses 127.0.0.11:53 and /etc/netns. */
  port?: number
  address?: string
  etcNetns?: string
  /**
   * Where Docker's resolver forwards from inside its containers (dockerd's --dns); default:
   * the IPv4 non-loopback nameservers of resolvConf, which dockerd also uses without --dns.
   */
  dockerUpstreams?: () => string[]
}

export interface NamesStats {
  sandboxes: number
  answered: number
  nxdomain: number
  forwarded: number
  forwardFailed: number
  listenErrors: number
}

export interface Names {
  /**
   * Follow the view now: open listeners for new local sandboxes, close those that left. Given
   * the mirror's change (as its listeners are), only the sandboxes it touched are looked at.
   */
  sync(change?: ViewChange): void
  stats(): NamesStats
  /** Close every listener; resolv.conf files stay (the sandboxes are still connected). */
  stop(): void
}

interface SandboxState {
  /** netns file identity (dev:ino) the listener was opened in; undefined while it is gone. */
  netns?: string
  listener?: Promise<SandboxListener | undefined>
  /** A Docker container's netns is served once: a /proc/PID path that changes is a reused PID. */
  servedOnce?: boolean
  /** ip-netns name whose /etc/netns resolv.conf is ours to remove. */
  resolvConfOf?: string
}

export function startNames(o: NamesOptions): Names {
  const port = o.port ?? DNS_PORT
  const address = o.address ?? LISTEN_ADDRESS
  const etc = o.etcNetns ?? ETC_NETNS
  const upstream = resolvConfReader(o.resolvConf)
  // the forwarding socket is IPv4 (as the overlay): IPv6 nameservers are skipped
  const forwarder = new Forwarder(
    () => upstream().nameservers.filter((ns) => /^\d+\.\d+\.\d+\.\d+$/.test(ns)),
    o.log,
  )
  const dockerAddresses =
    o.dockerUpstreams ?? (() => dockerUpstreamAddresses(upstream().nameservers))
  const sandboxes = new Map<string, SandboxState>()
  const counts = { answered: 0, nxdomain: 0, listenErrors: 0 }
  let builtFrom: ClusterView | undefined
  let table: NameTable = { networks: new Map(), sandboxes: new Map() }

  const current = (): NameTable => {
    const view = o.view()
    if (view !== builtFrom) {
      table = buildTable(view, o.node)
      builtFrom = view
    }
    return table
  }

  /** The answer to one query from `sandbox`, or undefined to forward it. */
  const answerLocally = (sandbox: string, msg: Uint8Array, q: Query): Uint8Array | undefined => {
    let r: ReturnType<typeof resolve>
    try {
      r = resolve(current(), sandbox, q.question)
    } catch (e) {
      // a fault here must not take the agent down from a socket callback: say it, answer SERVFAIL
      o.log.warn({ name: q.question.name, err: (e as Error).message }, 'dns: answering failed')
      return encodeAnswer(msg, q, RCODE.SERVFAIL, [], 0)
    }
    if ('forward' in r) return undefined
    if (r.rcode === RCODE.NXDOMAIN) counts.nxdomain++
    else counts.answered++
    return encodeAnswer(msg, q, r.rcode, r.answers, ANSWER_TTL_S)
  }

  const servfail = (msg: Uint8Array, q: Query, e: unknown) => {
    o.log.debug({ name: q.question.name, err: (e as Error).message }, 'dns: forward failed')
    return encodeAnswer(msg, q, RCODE.SERVFAIL, [], 0)
  }

  const handlersFor = (sandbox: string) => ({
    udp(msg: Uint8Array, reply: (a: Uint8Array) => void) {
      const q = parseQuery(msg)
      if ('drop' in q) {
        if (!q.drop && q.id !== undefined) reply(encodeError(q.id, q.rcode))
        return
      }
      const local = answerLocally(sandbox, msg, q)
      if (local) return reply(local)
      forwarder.udp(msg).then(reply, (e) => reply(servfail(msg, q, e)))
    },
    async tcp(msg: Uint8Array) {
      const q = parseQuery(msg)
      if ('drop' in q) {
        if (q.drop || q.id === undefined) throw new Error('not a query')
        return encodeError(q.id, q.rcode)
      }
      return answerLocally(sandbox, msg, q) ?? forwarder.tcp(msg).catch((e) => servfail(msg, q, e))
    },
  })

  const netnsIdentity = (path: string): string | undefined => {
    try {
      const st = statSync(path)
      return `${st.dev}:${st.ino}`
    } catch {
      return undefined
    }
  }

  /** Point `ip netns exec` at the resolver, unless the user has a resolv.conf there. */
  const pointResolvConf = (path: string, s: SandboxState) => {
    const name = netnsName(path)
    if (!name || s.resolvConfOf) return
    try {
      if (ensureNetnsResolvConf(name, address, etc, o.node)) s.resolvConfOf = name
    } catch (e) {
      o.log.warn(
        { sandbox: path, err: (e as Error).message },
        `dns: could not write ${etc}/${name}/resolv.conf`,
      )
    }
  }

  const open = (path: string, s: SandboxState, identity: string) => {
    s.netns = identity
    const listening: Promise<SandboxListener | undefined> = (
      docker.has(path)
        ? listenInDockerSandbox(path, handlersFor(path), dockerAddresses(), port)
        : listenInSandbox(path, handlersFor(path), port, address)
    ).then(
      (l) => {
        // only a resolver that listens is written into resolv.conf (and only while still wanted)
        if (s.listener === listening && sandboxes.get(path) === s && !docker.has(path))
          pointResolvConf(path, s)
        return l
      },
      (e) => {
        counts.listenErrors++
        o.log.warn(
          { sandbox: path, err: (e as Error).message },
          'dns: names will not resolve in this sandbox',
        )
        return undefined
      },
    )
    s.listener = listening
  }

  const closeListener = (s: SandboxState) => {
    void s.listener?.then((l) => {
      try {
        l?.close()
      } catch (e) {
        o.log.warn({ err: (e as Error).message }, 'dns: closing a sandbox resolver failed')
      }
    })
    s.listener = undefined
    s.netns = undefined
  }

  // the sandboxes of the view sync() last followed (the table itself is built lazily, on a query)
  let syncedFrom: ClusterView | undefined
  const local = new LocalSandboxIndex(o.node)
  const docker = { has: (path: string) => local.isDocker(path) }
  /** Every sandbox path known: served now, or served before. */
  const everyPath = () => new Set([...local.paths(), ...sandboxes.keys()])
  /**
   * `recheck`: also look at the netns files of sandboxes already followed (the 1 s tick does).
   * `change`: what the mirror changed since the last call (its listeners get it), so only the
   * sandboxes it touched are looked at.
   */
  const sync = (recheck = false, change?: ViewChange) => {
    const view = o.view()
    if (view === syncedFrom && !recheck) return
    let paths: Iterable<string> | 'all' = 'all'
    if (view !== syncedFrom) {
      paths = local.update(view, change)
      syncedFrom = view
    }
    for (const path of paths === 'all' || recheck ? everyPath() : paths) {
      if (local.has(path)) {
        let s = sandboxes.get(path)
        if (s && !recheck) continue
        if (!s) sandboxes.set(path, (s = {}))
        const identity = netnsIdentity(path)
        if (identity === s.netns) continue
        // new, gone (the netns must be free to go), or replaced by another netns of that name
        closeListener(s)
        if (!identity || s.servedOnce) continue
        if (docker.has(path)) s.servedOnce = true
        open(path, s, identity)
        continue
      }
      const s = sandboxes.get(path)
      if (!s) continue
      closeListener(s)
      // also a file an earlier agent wrote (only a file with weft's mark is removed)
      const name = s.resolvConfOf ?? netnsName(path)
      if (name) removeNetnsResolvConf(name, etc)
      sandboxes.delete(path)
    }
  }

  const check = () => {
    sync(true)
    const cleaned = removeOrphanedResolvConfs(etc)
    if (cleaned.length)
      o.log.info(
        { netns: cleaned },
        `dns: removed weft's ${etc}/NAME/resolv.conf of namespaces that are gone`,
      )
  }
  const timer = setInterval(check, CHECK_EVERY_MS)
  check()

  return {
    sync: (change?: ViewChange) => sync(false, change),
    stats: () => ({
      sandboxes: [...sandboxes.values()].filter((s) => s.listener).length,
      ...counts,
      forwarded: forwarder.forwarded,
      forwardFailed: forwarder.failed,
    }),
    stop() {
      clearInterval(timer)
      for (const s of sandboxes.values()) closeListener(s)
      sandboxes.clear()
      forwarder.close()
    },
  }
}
