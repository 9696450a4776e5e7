// The cluster mirror: the agent's copy of the cluster tree and its typed view. Watch events
// (snapshots or deltas) and this agent's own writes go in; the view, prefix reads and
// `waitFor(predicate)` come out. Listeners (the reconciler) hear every change.
import { StoreUnreachableError } from '../errors/index.ts'
import { clusterView, viewWith, type ClusterView, type ParseCache } from '../cluster/index.ts'
import type { StoreEntry, WatchEvent } from '../store/index.ts'
import type { MirrorDb } from './db.ts'

export interface ClusterMirrorOptions {
  /** Told about records in the tree that do not parse (written by a newer or broken agent). */
  onInvalid?(invalid: ClusterView['invalid']): void
}

export class ClusterMirror {
  private readonly parseCache: ParseCache = new Map()
  private current: ClusterView
  private readonly listeners = new Set<() => void>()
  private hadWatchEvent = false

  constructor(
    readonly db: MirrorDb,
    private readonly opts: ClusterMirrorOptions = {},
  ) {
    this.current = clusterView(db.entries().values(), this.parseCache)
  }

  /** The typed view of the tree as this agent knows it now. A new object after every change. */
  view(): ClusterView {
    return this.current
  }

  /** Prefix reads from the mirror (possibly a little behind the store). */
  async list(prefix: string): Promise<StoreEntry[]> {
    return this.db.list(prefix)
  }

  /**
   * Whether the store's own state reached the mirror since this process started. Until then
   * the view is what the last run left on disk, without its last own writes (those are kept in
   * memory only): an endpoint missing from it may just be one connected moments before a crash.
   * (With scoped following, the follower's ready() says it for everything it follows.)
   */
  get synced(): boolean {
    return this.hadWatchEvent
  }

  /**
   * A watch event from the store, of the watch on `prefix` (default: the whole tree, one
   * watch). Listeners hear it even when nothing changed (a wakeup).
   */
  async apply(e: WatchEvent, prefix = ''): Promise<boolean> {
    this.hadWatchEvent = true
    const changed =
      e.kind === 'snapshot'
        ? await this.db.applySnapshot(e.entries, e.revision, prefix)
        : await this.db.applyDelta(e.put, e.deleted, e.revision, prefix)
    if (changed) this.rebuild()
    this.notify()
    return changed
  }

  /** Drop the mirrored keys for which `drop(key)` holds (a prefix no longer followed). */
  async forget(drop: (key: string) => boolean): Promise<boolean> {
    const changed = await this.db.forget(drop)
    if (changed) {
      this.rebuild()
      this.notify()
    }
    return changed
  }

  private rebuild(): void {
    this.current = clusterView(this.db.entries().values(), this.parseCache)
    if (this.current.invalid.length) this.opts.onInvalid?.(this.current.invalid)
  }

  /** Entries this agent just committed: in the view at once, not one watch round later. */
  ownWrites(written: StoreEntry[]): void {
    if (!this.db.applyOwnWrite(written)) return
    this.current = viewWith(this.current, written, this.parseCache)
    this.notify()
  }

  /** Hear every change (and every watch answer). Returns the unsubscribe. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  /**
   * Resolves once `predicate(view)` holds; re-checked after every change. Throws
   * StoreUnreachableError naming `what` at the deadline (the store did not bring it).
   */
  waitFor(
    predicate: (view: ClusterView) => boolean,
    timeoutMs: number,
    what = 'the cluster view',
  ): Promise<void> {
    if (predicate(this.current)) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        off()
        clearTimeout(timer)
        if (err) reject(err)
        else resolve()
      }
      const off = this.onChange(() => {
        if (predicate(this.current)) done()
      })
      const timer = setTimeout(
        () =>
          done(
            new StoreUnreachableError(
              `timed out after ${timeoutMs} ms waiting for ${what}: is the store reachable?`,
            ),
          ),
        timeoutMs,
      )
    })
  }

  private notify(): void {
    for (const fn of [...this.listeners]) fn()
  }
}
