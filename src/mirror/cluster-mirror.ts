// The cluster mirror: the agent's copy of the cluster tree and its typed view. Watch events
// (snapshots or deltas) and this agent's own writes go in; the view, prefix reads and
// `waitFor(predicate)` come out. Listeners (the reconciler) hear every event, with what changed.
//
// Design note (2026-12, issue 17): the view is kept in step with the change of each event
// (the db reports which entries it put and deleted), not rebuilt from the whole tree: with
// scoped following every followed network is its own watch, so a burst of connects is many
// small events, and a rebuild per event cost the tree each time (a 1,000-connect burst on 30
// hosts spent most of its CPU there). No parse cache either: a record is parsed once, when its
// value changes, and kept only in the view.
import { StoreUnreachableError } from '../errors/index.ts'
import { clusterView, type ClusterView } from '../cluster/index.ts'
import { viewApply } from '../cluster/view.ts'
import type { StoreEntry, WatchEvent } from '../store/index.ts'
import type { MirrorChange, MirrorDb } from './db.ts'

export interface ClusterMirrorOptions {
  /** Told about records in the tree that do not parse (written by a newer or broken agent). */
  onInvalid?(invalid: ClusterView['invalid']): void
}

export class ClusterMirror {
  private current: ClusterView
  private readonly listeners = new Set<(change: MirrorChange) => void>()
  private hadWatchEvent = false
  /** Watch events applied and changes put into the view since construction (for /metrics). */
  readonly counts = { events: 0, viewUpdates: 0 }
  /** Directory reads by prefix (see list), dropped when a change touches a key below them. */
  private readonly lists = new Map<string, StoreEntry[]>()

  constructor(
    readonly db: MirrorDb,
    private readonly opts: ClusterMirrorOptions = {},
  ) {
    this.current = clusterView(db.entries().values())
    if (this.current.invalid.length) opts.onInvalid?.(this.current.invalid)
  }

  /** The typed view of the tree as this agent knows it now. A new object after every change. */
  view(): ClusterView {
    return this.current
  }

  /**
   * Prefix reads from the mirror (possibly a little behind the store). A directory's answer is
   * kept until a change touches a key below it: every connect reads the network list (2,000
   * records at 1,000 hosts), which hardly ever changes. Callers get their own array.
   */
  async list(prefix: string): Promise<StoreEntry[]> {
    if (!prefix.endsWith('/')) return this.db.list(prefix)
    let entries = this.lists.get(prefix)
    if (!entries) this.lists.set(prefix, (entries = this.db.list(prefix)))
    return entries.slice()
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
   * watch). Listeners hear it even when nothing changed (a wakeup, with an empty change).
   */
  async apply(e: WatchEvent, prefix = ''): Promise<boolean> {
    const change: MirrorChange = { put: [], deleted: [] }
    this.counts.events++
    const changed = await this.tracking(() =>
      e.kind === 'snapshot'
        ? this.db.applySnapshot(e.entries, e.revision, prefix, change)
        : this.db.applyDelta(e.put, e.deleted, e.revision, prefix, change),
    )
    this.update(change)
    // synced only once the view holds the store's state: a pass that runs while the snapshot is
    // being written must not take the last run's view for the store's (and detach what it lacks)
    this.hadWatchEvent = true
    this.notify(change)
    return changed
  }

  /** Drop the mirrored keys for which `drop(key)` holds (a prefix no longer followed). */
  async forget(drop: (key: string) => boolean): Promise<boolean> {
    const change: MirrorChange = { put: [], deleted: [] }
    const changed = await this.tracking(() => this.db.forget(drop, change))
    if (this.update(change)) this.notify(change)
    return changed
  }

  /**
   * Run a db write; when it fails part-way (own writes may be dropped already), the view is
   * built again from what the db holds, so it never drifts from the tree.
   */
  private async tracking(write: () => Promise<boolean>): Promise<boolean> {
    try {
      return await write()
    } catch (e) {
      this.current = clusterView(this.db.entries().values())
      this.lists.clear()
      throw e
    }
  }

  /** Put a change into the view (a new view object when it changed anything) and the kept reads. */
  private update(change: MirrorChange): boolean {
    if (change.put.length === 0 && change.deleted.length === 0) return false
    for (const prefix of this.lists.keys()) {
      const under = (k: string) => k.startsWith(prefix)
      if (change.put.some((e) => under(e.key)) || change.deleted.some(under))
        this.lists.delete(prefix)
    }
    this.counts.viewUpdates++
    const { view, added } = viewApply(this.current, change.put, change.deleted)
    this.current = view
    if (added.length) this.opts.onInvalid?.(added)
    return true
  }

  /** Entries this agent just committed: in the view at once, not one watch round later. */
  ownWrites(written: StoreEntry[]): void {
    const change: MirrorChange = { put: [], deleted: [] }
    if (!this.db.applyOwnWrite(written, change)) return
    this.update(change)
    this.notify(change)
  }

  /**
   * Hear every change (and every watch answer, with an empty change): `change` says which
   * entries were put and which keys deleted. Returns the unsubscribe.
   */
  onChange(fn: (change: MirrorChange) => void): () => void {
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

  private notify(change: MirrorChange): void {
    for (const fn of [...this.listeners]) fn(change)
  }
}
