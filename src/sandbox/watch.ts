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
import { netnsIdentity, sameNetns, type NetnsIdentity } from './identity.ts'

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
  private checkQueued = false
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
    let changed = false
    for (const { endpointId, sandbox } of refs) {
      keep.add(endpointId)
      const had = this.followed.get(endpointId)
      if (had && had.sandbox === sandbox) continue
      changed = true
      let path: string
      try {
        path = sandboxPath(sandbox)
      } catch (e) {
        this.opts.log?.warn(
          { endpoint: endpointId, sandbox, err: (e as Error).message },
          'not following a malformed sandbox reference',
        )
        continue
      }
      const identity = this.identity(path)
      this.followed.set(endpointId, {
        sandbox,
        path,
        identity: identity === 'unknown' ? undefined : identity,
      })
    }
    if (keep.size !== this.followed.size || changed) {
      for (const id of [...this.followed.keys()]) if (!keep.has(id)) this.followed.delete(id)
      changed = true
    }
    // the same set as before (a view change elsewhere in the cluster): nothing to check anew
    if (this.timer && changed) {
      this.syncDirWatches()
      this.queueCheck()
    }
  }

  /** Whether this endpoint's sandbox was found gone (for status: "gone", not "attached"). */
  isGone(endpointId: string): boolean {
    return this.followed.get(endpointId)?.reportedAt !== undefined
  }

  /** The namespace this endpoint was plumbed into (its identity when first seen); undefined while unknown or not followed. */
  identityOf(endpointId: string): NetnsIdentity | undefined {
    return this.followed.get(endpointId)?.identity
  }

  /** Compare every followed sandbox with its identity now; report the gone ones. */
  check(): void {
    const bySandbox = new Map<
      string,
      { f: Followed; reason: SandboxGone['reason']; ids: string[] }
    >()
    const now = this.now()
    const current = new Map<string, NetnsIdentity | undefined | 'unknown'>()
    for (const [id, f] of this.followed) {
      if (f.reportedAt !== undefined && now - f.reportedAt < this.reportAgainMs) continue
      if (!current.has(f.path)) current.set(f.path, this.identity(f.path))
      const cur = current.get(f.path)
      if (cur === 'unknown') continue
      if (cur && !f.identity) f.identity = cur
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

  /** One check soon, for a burst of directory events. */
  private queueCheck(): void {
    if (this.checkQueued) return
    this.checkQueued = true
    setImmediate(() => {
      this.checkQueued = false
      if (this.timer) this.check()
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
    for (const dir of dirs) {
      if (this.dirWatches.has(dir)) continue
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
}
