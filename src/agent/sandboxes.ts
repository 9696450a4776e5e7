// Sandboxes on this host: how a sandbox reference is checked and identified (by its network
// namespace, whichever way it was named), and the follower that releases the endpoints of a
// sandbox whose namespace is gone.
//
// Endpoints follow their sandbox (issue 12 item 2): this node's endpoints in the mirror's view
// are given to a SandboxWatcher; when a namespace is gone (`ip netns del`, the process behind
// /proc/PID/ns/net exited) its endpoints are released cluster-wide — record and address
// removed, so peers unprogram them — without a disconnect call. At start the view from the last
// run is followed at once, so endpoints whose sandbox went while the agent was down are released
// as soon as the store answers (a release that fails is retried by the watcher).
import { NotFoundError } from '../errors/index.ts'
import {
  EndpointChanges,
  type ClusterOps,
  type ClusterView,
  type EndpointRecord,
  type ViewChange,
} from '../cluster/index.ts'
import { readFileSync } from 'node:fs'
import { resolveSandbox } from '../net/index.ts'
import { withNetns } from '../sys/index.ts'
import {
  netnsIdentity,
  netnsKey,
  SandboxWatcher,
  type SandboxGone,
  type SandboxRef,
} from '../sandbox/index.ts'

/** How sandbox references are checked and compared (the host's netns files, or a fake in tests). */
export interface Sandboxes {
  /** Throws NotFoundError when the sandbox does not exist now. */
  check(ref: string): void
  /** One key per namespace, whichever way it was named (`x`, /run/netns/x, /proc/PID/ns/net, PID). Throws NotFoundError when gone. */
  key(ref: string): string
  /** Whether an interface of this name exists inside the sandbox now (weft's or another's). */
  hasInterface?(ref: string, ifname: string): boolean
}

const sandboxGone = (ref: string) =>
  new NotFoundError(`sandbox ${ref} not found: is the container running?`, 'sandbox_not_found')

/** The host's sandboxes: netns files identified by their nsfs inode (st_dev + st_ino). */
export const hostSandboxes: Sandboxes = {
  check: (ref) => void resolveSandbox(ref),
  key(ref) {
    const id = netnsIdentity(resolveSandbox(ref).path)
    if (!id) throw sandboxGone(ref)
    return netnsKey(id)
  },
  hasInterface: (ref, ifname) => interfaceNames(resolveSandbox(ref).path).has(ifname),
}

/**
 * The interface names in the namespace at `path`, read once per turn of the event loop (picking
 * a free name asks for eth0, eth1, … in a row). From /proc/net/dev as that namespace shows it,
 * not an rtnetlink request: RTM_GETLINK waits for RTNL, which veth and tc changes of every agent
 * on the host hold, and in a connect burst that wait was ~1 ms per connect of a blocked event
 * loop (SIOCGIFINDEX, if_nametoindex, would be lockless but loads a module for a missing name).
 */
const turnNames = new Map<string, Set<string>>()
function interfaceNames(path: string): Set<string> {
  let names = turnNames.get(path)
  if (names) return names
  const text = withNetns(path, () => readFileSync('/proc/thread-self/net/dev', 'latin1'))
  names = new Set()
  // two header lines, then "  name: counters..."
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':')
    if (colon > 0) names.add(line.slice(0, colon).trim())
  }
  if (turnNames.size === 0) setImmediate(() => turnNames.clear())
  turnNames.set(path, names)
  return names
}

export interface SandboxFollowerDeps {
  node: string
  mirror: { view(): ClusterView; onChange(fn: (change?: ViewChange) => void): () => void }
  ops: Pick<ClusterOps, 'removeEndpoint'>
  /** Woken after a release: the local detach need not wait for the store's watch. */
  reconciler: { trigger(): void }
  log: { info(o: object, m?: string): void; warn(o: object, m?: string): void }
  /** Period of the watcher's full check (default 1 s: /proc/PID sandboxes rely on it). */
  pollMs?: number
  /** A release that failed (store unreachable) is tried again after this long (default 2 s). */
  retryMs?: number
}

/** What the agent service asks of the follower. */
export interface FollowedSandboxes {
  /** The endpoint's sandbox was found gone (its release is under way). */
  isGone(endpointId: string): boolean
  /** The namespace key the endpoint was plumbed into (as Sandboxes.key gives it), if known. */
  sandboxKey(endpointId: string): string | undefined
  /**
   * This node's endpoints plumbed into the namespace `key`: those identified as in it, and
   * those not identified yet whose reference names it now (`presentKey`).
   */
  endpointsIn?(key: string, presentKey: (ref: string) => string | undefined): string[]
}

export class SandboxFollower implements FollowedSandboxes {
  private readonly watcher: SandboxWatcher
  private seen: ClusterView | undefined
  private readonly changes = new EndpointChanges()
  private off: (() => void) | undefined
  /** Endpoints released because their sandbox was gone (since start). */
  released = 0

  constructor(private readonly d: SandboxFollowerDeps) {
    this.watcher = new SandboxWatcher({
      onGone: (gone) => this.release(gone),
      pollMs: d.pollMs,
      reportAgainMs: d.retryMs ?? 2000,
      log: d.log,
    })
  }

  start(): void {
    if (this.off) return
    this.off = this.d.mirror.onChange((change) => this.sync(change))
    this.sync()
    this.watcher.start()
  }

  stop(): void {
    this.off?.()
    this.off = undefined
    this.watcher.stop()
  }

  isGone(endpointId: string): boolean {
    return this.watcher.isGone(endpointId)
  }

  sandboxKey(endpointId: string): string | undefined {
    const id = this.watcher.identityOf(endpointId)
    return id && netnsKey(id)
  }

  /** The endpoints this node plumbed into the namespace `key` (as Sandboxes.key gives it). */
  endpointsIn(key: string, presentKey: (ref: string) => string | undefined): string[] {
    const ids = this.watcher.endpointsIn(key)
    // not identified when first seen (unreadable then): judged by what the reference names now
    for (const id of this.watcher.unidentified()) {
      const e = this.d.mirror.view().endpoints.get(id)
      if (e?.sandbox && presentKey(e.sandbox) === key) ids.push(id)
    }
    return ids
  }

  /**
   * Follow exactly this node's sandbox endpoints of the current view: the whole view when it
   * was rebuilt (or at start), else only the endpoints the change touched.
   */
  private sync(change?: ViewChange): void {
    const view = this.d.mirror.view()
    if (view === this.seen) return
    this.seen = view
    const touched = this.changes.touched(view, change)
    if (touched === 'all') {
      const refs: SandboxRef[] = []
      for (const e of view.endpoints.values()) {
        const ref = this.refOf(e)
        if (ref) refs.push(ref)
      }
      this.watcher.follow(refs)
      return
    }
    if (touched.size === 0) return
    const put: SandboxRef[] = []
    const gone: string[] = []
    for (const id of touched) {
      const e = view.endpoints.get(id)
      const ref = e && this.refOf(e)
      if (ref) put.push(ref)
      else gone.push(id)
    }
    this.watcher.update(put, gone)
  }

  private refOf(e: EndpointRecord): SandboxRef | undefined {
    return !e.external && e.node === this.d.node && e.sandbox
      ? { endpointId: e.id, sandbox: e.sandbox }
      : undefined
  }

  /** Remove the endpoints of a gone sandbox from the store; a rejection makes the watcher report them again. */
  private async release(gone: SandboxGone): Promise<void> {
    const { log, ops, mirror, node } = this.d
    log.info(
      {
        sandbox: gone.sandbox,
        reason: gone.reason,
        endpoints: gone.endpointIds.map((id) => id.slice(0, 12)),
      },
      'sandbox gone: releasing its endpoints',
    )
    const failed: string[] = []
    for (const id of gone.endpointIds) {
      const rec: EndpointRecord | undefined = mirror.view().endpoints.get(id)
      if (!rec || rec.external || rec.node !== node) continue
      try {
        if ((await ops.removeEndpoint(rec)) === 'removed') {
          this.released++
          log.info(
            { endpoint: id.slice(0, 12), network: rec.networkId.slice(0, 12), ip: rec.ip },
            'released the endpoint of a gone sandbox',
          )
        }
      } catch (e) {
        failed.push(`${id.slice(0, 12)}: ${(e as Error).message}`)
      }
    }
    this.d.reconciler.trigger()
    if (failed.length)
      throw new Error(
        `${failed.length} of ${gone.endpointIds.length} endpoints not released (${failed.join('; ')})`,
      )
  }
}
