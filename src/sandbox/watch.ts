// Endpoints follow their sandbox: the watcher is given this host's endpoints with their
// sandbox references and reports the endpoints whose namespace is gone (`ip netns del`, the
// process behind /proc/PID/ns/net exited, the netns file unmounted or replaced), so the
// agent can release them cluster-wide without a disconnect call.
//
// Design notes (2026-12, issue 12 item 2):
// - A sandbox's identity is its namespace's nsfs inode, taken when the watcher first sees the
//   endpoint: the path going away, or naming another namespace, both mean the namespace the
//   endpoint was plumbed into is gone (its veth went with it).
// - inotify (fs.watch) on the directories holding netns files (/run/netns and the like) tells
//   at once; procfs has no inotify, and a pidfd would need an fd poller Bun does not expose,
//   so /proc/PID/ns/net references rely on the periodic check (`pollMs`, default 1 s), which
//   also backs up every watch (a missed event, a directory made later).
// - Level-triggered: `follow()` takes the whole current set; an endpoint reported gone is
//   reported again after `reportAgainMs` while it is still followed (its release may have
//   failed), never in a tight loop.
import { watch, type FSWatcher } from 'node:fs'
import { dirname } from 'node:path'
import { sandboxPath } from '../net/index.ts'
import { netnsIdentity, netnsKey, sameNetns, type NetnsIdentity } from './identity.ts'

/** An endpoint of this host and the sandbox it was plumbed into. */
export interface SandboxRef {
  endpointId: string
  /** ip-netns name, /proc/PID/ns/net (or a bare PID), or a path to a netns file. */
  sandbox: string
}

/** Endpoints whose sandbox is gone, one event per sandbox. */
export interface SandboxGone {
  /** As the endpoints gave it. */
  sandbox: string
  /** The netns file it resolves to. */
  path: string
  endpointIds: string[]
  /** `missing`: the path no longer exists; `replaced`: it names another namespace now. */
  reason: 'missing' | 'replaced'
}

export interface SandboxWatcherOptions {
  /** Called with the endpoints of a sandbox that is gone; a rejection is logged and reported again later. */
  onGone: (gone: SandboxGone) => void | Promise<void>
  /** Period of the full check (the backstop, and the only detector for /proc/PID references). */
  pollMs?: number
  /** A gone endpoint still followed is reported again after this long. */
  reportAgainMs?: number
  log?: { warn: (o: object, m?: string) => void }
  now?: () => number
}

interface Followed {
  sandbox: string
  path: string
  /** Identity when first seen (or first readable); undefined while not known. */
  identity: NetnsIdentity | undefined
  /** When it was last reported gone (epoch ms). */
  reportedAt?: number
}

export class SandboxWatcher {
  private readonly followed = new Map<string, Followed>()
  private readonly dirWatches = new Map<string, FSWatcher>()
  private timer: ReturnType<typeof setInterval> | null = null
  /** What the next queued check looks at: everything, or the endpoints just followed. */
  private queued: Set<string> | 'all' | undefined
  /** Followed endpoints by their sandbox's netnsKey (for the names already taken in a sandbox). */
  private readonly byKey = new Map<string, Set<string>>()
  /** Followed endpoints whose identity is not known yet (kept, not scanned for: asked per connect). */
  private readonly unknown = new Set<string>()
  private readonly pollMs: number
  private readonly reportAgainMs: number
  private readonly now: () => number

  constructor(private readonly opts: SandboxWatcherOptions) {
    this.pollMs = opts.pollMs ?? 1000
    this.reportAgainMs = opts.reportAgainMs ?? 10_000
    this.now = opts.now ?? Date.now
  }

  /** Start the periodic check (and the directory watches of what is followed). */
  start(): void {
    if (this.timer) return
    this.timer = setInterval(() => {
      this.syncDirWatches()
      this.check()
    }, this.pollMs)
    this.syncDirWatches()
    this.queueCheck()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    for (const w of this.dirWatches.values()) w.close()
    this.dirWatches.clear()
  }

  /**
   * Follow exactly these endpoints (this host's, with a sandbox). New ones get their
   * sandbox's identity now; ones no longer given are forgotten. A malformed sandbox
   * reference is skipped (and logged): it never names a namespace to lose.
   */
  follow(refs: Iterable<SandboxRef>): void {
    const keep = new Set<string>()
    const added: string[] = []
    for (const ref of refs) {
      keep.add(ref.endpointId)
      if (this.add(ref)) added.push(ref.endpointId)
    }
    let removed = false
    if (keep.size !== this.followed.size || added.length) {
      for (const id of [...this.followed.keys()])
        if (!keep.has(id)) removed = this.forget(id) || removed
    }
    // the same set as before (a view change elsewhere in the cluster): nothing to check anew
    if (this.timer && (added.length || removed)) {
      this.syncDirWatches()
      this.queueCheck(added)
    }
  }

  /**
   * Follow these endpoints too and forget those, leaving the rest as they are: the cost of a
   * change, not of everything followed (follow() walks the whole set). Only the new ones are
   * checked at once; directory watches of sandboxes no longer followed go at the next tick.
   */
  update(put: Iterable<SandboxRef>, forget: Iterable<string>): void {
    const added: string[] = []
    for (const ref of put) if (this.add(ref)) added.push(ref.endpointId)
    for (const id of forget) this.forget(id)
    if (this.timer && added.length) {
      for (const id of added) {
        const f = this.followed.get(id)
        if (f && !f.path.startsWith('/proc/')) this.watchDir(dirname(f.path))
      }
      this.queueCheck(added)
    }
  }

  /** Endpoints followed whose sandbox's identity (as netnsKey gives it) is `key`. */
  endpointsIn(key: string): string[] {
    return [...(this.byKey.get(key) ?? [])]
  }

  /** Endpoints followed whose sandbox's identity is not known yet (unreadable when first seen). */
  unidentified(): string[] {
    return [...this.unknown]
  }

  /** Start following one endpoint, or again when its reference changed; true when it did. */
  private add({ endpointId, sandbox }: SandboxRef): boolean {
    const had = this.followed.get(endpointId)
    if (had && had.sandbox === sandbox) return false
    let path: string
    try {
      path = sandboxPath(sandbox)
    } catch (e) {
      this.opts.log?.warn(
        { endpoint: endpointId, sandbox, err: (e as Error).message },
        'not following a malformed sandbox reference',
      )
      if (had) this.forget(endpointId)
      return false
    }
    if (had) this.forget(endpointId)
    const identity = this.identity(path)
    const f: Followed = { sandbox, path, identity: undefined }
    this.followed.set(endpointId, f)
    this.identify(endpointId, f, identity === 'unknown' ? undefined : identity)
    return true
  }

  private forget(id: string): boolean {
    const f = this.followed.get(id)
    if (!f) return false
    if (f.identity) this.unindex(id, f.identity)
    this.unknown.delete(id)
    this.followed.delete(id)
    return true
  }

  private identify(id: string, f: Followed, identity: NetnsIdentity | undefined): void {
    f.identity = identity
    if (!identity) return void this.unknown.add(id)
    this.unknown.delete(id)
    const key = netnsKey(identity)
    let ids = this.byKey.get(key)
    if (!ids) this.byKey.set(key, (ids = new Set()))
    ids.add(id)
  }

  private unindex(id: string, identity: NetnsIdentity): void {
    const key = netnsKey(identity)
    const ids = this.byKey.get(key)
    ids?.delete(id)
    if (ids?.size === 0) this.byKey.delete(key)
  }

  /** Whether this endpoint's sandbox was found gone (for status: "gone", not "attached"). */
  isGone(endpointId: string): boolean {
    return this.followed.get(endpointId)?.reportedAt !== undefined
  }

  /** The namespace this endpoint was plumbed into (its identity when first seen); undefined while unknown or not followed. */
  identityOf(endpointId: string): NetnsIdentity | undefined {
    return this.followed.get(endpointId)?.identity
  }

  /** Compare every followed sandbox (or only these endpoints') with its identity now; report the gone ones. */
  check(only?: Iterable<string>): void {
    const bySandbox = new Map<
      string,
      { f: Followed; reason: SandboxGone['reason']; ids: string[] }
    >()
    const now = this.now()
    const current = new Map<string, NetnsIdentity | undefined | 'unknown'>()
    const ids = only ? this.withTheirSandboxes(only) : this.followed.keys()
    for (const id of ids) {
      const f = this.followed.get(id)
      if (!f) continue
      if (f.reportedAt !== undefined && now - f.reportedAt < this.reportAgainMs) continue
      if (!current.has(f.path)) current.set(f.path, this.identity(f.path))
      const cur = current.get(f.path)
      if (cur === 'unknown') continue
      if (cur && !f.identity) this.identify(id, f, cur)
      const reason =
        cur === undefined
          ? 'missing'
          : f.identity && !sameNetns(cur, f.identity)
            ? 'replaced'
            : undefined
      if (!reason) continue
      const key = `${f.path} ${reason}`
      const entry = bySandbox.get(key) ?? { f, reason, ids: [] }
      entry.ids.push(id)
      bySandbox.set(key, entry)
    }
    for (const { f, reason, ids } of bySandbox.values()) {
      for (const id of ids) this.followed.get(id)!.reportedAt = now
      this.report({ sandbox: f.sandbox, path: f.path, endpointIds: ids.sort(), reason })
    }
  }

  /**
   * `only` and every endpoint followed in the same namespace as one of them: a gone sandbox is
   * reported whole, whichever of its endpoints the check was asked about (found by the identity
   * index, not a walk of everything followed).
   */
  private withTheirSandboxes(only: Iterable<string>): Set<string> {
    const out = new Set<string>()
    for (const id of only) {
      out.add(id)
      const identity = this.followed.get(id)?.identity
      if (identity) for (const other of this.byKey.get(netnsKey(identity)) ?? []) out.add(other)
    }
    return out
  }

  private report(gone: SandboxGone): void {
    const failed = (e: unknown) => {
      this.opts.log?.warn(
        {
          sandbox: gone.sandbox,
          endpoints: gone.endpointIds,
          err: e instanceof Error ? e.message : String(e),
        },
        'releasing the endpoints of a gone sandbox failed; reported again later',
      )
    }
    try {
      const r = this.opts.onGone(gone)
      if (r instanceof Promise) r.catch(failed)
    } catch (e) {
      failed(e)
    }
  }

  /** The namespace behind `path` now: undefined when gone, 'unknown' when it cannot be told (logged). */
  private identity(path: string): NetnsIdentity | undefined | 'unknown' {
    try {
      return netnsIdentity(path)
    } catch (e) {
      this.opts.log?.warn(
        { path, err: (e as Error).message },
        'cannot stat a sandbox netns file; not judging it',
      )
      return 'unknown'
    }
  }

  /** One check soon, for a burst of directory events (everything) or of new endpoints (`ids`). */
  private queueCheck(ids?: string[]): void {
    const was = this.queued
    if (was === 'all') return
    if (!ids) this.queued = 'all'
    else if (was) for (const id of ids) was.add(id)
    else this.queued = new Set(ids)
    if (was) return
    setImmediate(() => {
      const q = this.queued
      this.queued = undefined
      if (this.timer && q) this.check(q === 'all' ? undefined : q)
    })
  }

  /** inotify on each directory holding followed netns files (not procfs: it has none). */
  private syncDirWatches(): void {
    const dirs = new Set<string>()
    for (const f of this.followed.values())
      if (!f.path.startsWith('/proc/')) dirs.add(dirname(f.path))
    for (const [dir, w] of this.dirWatches) {
      if (!dirs.has(dir)) {
        w.close()
        this.dirWatches.delete(dir)
      }
    }
    for (const dir of dirs) this.watchDir(dir)
  }

  private watchDir(dir: string): void {
    if (this.dirWatches.has(dir)) return
    try {
      const w = watch(dir, { persistent: false }, () => this.queueCheck())
      w.on('error', (e) => {
        // e.g. the directory went away: the poll covers it, and watches it again once it is back
        this.opts.log?.warn(
          { dir, err: e.message },
          'watching a netns directory stopped; the periodic check goes on',
        )
        w.close()
        this.dirWatches.delete(dir)
      })
      this.dirWatches.set(dir, w)
    } catch (e) {
      // no such directory (yet) is normal: the periodic check covers it and retries the watch
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.opts.log?.warn(
          { dir, err: (e as Error).message },
          'cannot watch a netns directory; relying on the periodic check',
        )
      }
    }
  }
}
