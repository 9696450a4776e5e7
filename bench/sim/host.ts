// One simulated host: the real mirror (libSQL in memory), cluster view, scoped follower (or the
// old whole-tree watch), reconciler and desired-state code, the real cluster operations for its
// connects, and a recording datapath instead of the kernel: no namespaces, no veths.
import { ClusterOps, ROOT, type EndpointRecord } from '../../src/cluster/index.ts'
import {
  ClusterMirror,
  MirrorDb,
  ScopedFollower,
  followStore,
  scopedReader,
} from '../../src/mirror/index.ts'
import { Reconciler } from '../../src/reconcile/index.ts'
import {
  StoreStatus,
  observeWrites,
  type ClusterStore,
  type StoreEntry,
  type StoreWatch,
} from '../../src/store/index.ts'
import type { RemoteEndpointSpec } from '../../src/datapath/types.ts'
import { FakeDatapath } from '../../test/fakes/datapath.ts'

export type Design = 'scoped' | 'tree'

export const now = () => performance.timeOrigin + performance.now()

/** A recording datapath that remembers when each remote endpoint ("vni/ip") was first programmed. */
class RecordingDatapath extends FakeDatapath {
  readonly firstSeen = new Map<string, number>()
  private readonly waiters = new Map<string, ((at: number) => void)[]>()

  override async upsertRemoteEndpoint(ep: RemoteEndpointSpec): Promise<void> {
    await super.upsertRemoteEndpoint(ep)
    this.clearCalls() // the record of calls would grow without bound
    const key = `${ep.vni}/${ep.ip}`
    if (this.firstSeen.has(key)) return
    const at = now()
    this.firstSeen.set(key, at)
    for (const w of this.waiters.get(key) ?? []) w(at)
    this.waiters.delete(key)
  }

  /** When the remote endpoint was first programmed (waits for it). */
  seen(key: string): Promise<number> {
    const at = this.firstSeen.get(key)
    if (at !== undefined) return Promise.resolve(at)
    return new Promise((resolve) => {
      const list = this.waiters.get(key) ?? []
      list.push(resolve)
      this.waiters.set(key, list)
    })
  }
}

export class SimHost {
  readonly datapath = new RecordingDatapath()
  private db!: MirrorDb
  mirror!: ClusterMirror
  private follower: ScopedFollower | undefined
  private tree: StoreWatch | undefined
  private treeSynced = false
  private reconciler!: Reconciler
  private ops!: ClusterOps
  private connects = 0

  constructor(
    readonly node: string,
    private readonly design: Design,
    private readonly store: ClusterStore,
    /** Look for own endpoints in the store at start (one list of all endpoints per host, as an agent start does). */
    private readonly discover = false,
  ) {}

  /** Start from a mirror holding this host's own endpoints (live restore), then follow the store. */
  async start(own: StoreEntry[]): Promise<void> {
    this.db = await MirrorDb.open(':memory:')
    if (this.design === 'scoped') await this.db.applySnapshot(own, 0n)
    this.mirror = new ClusterMirror(this.db)
    const status = new StoreStatus()
    this.reconciler = new Reconciler({
      datapath: this.datapath,
      node: this.node,
      view: () => this.mirror.view(),
      // the agent's wiring: change events make passes look only at the networks they touched
      changes: (listener) => this.mirror.onChange(listener),
      resyncMs: 3_600_000,
    })
    this.reconciler.start()
    this.mirror.onChange(() => this.reconciler.trigger())
    if (this.design === 'scoped') {
      const follower = (this.follower = new ScopedFollower({
        node: this.node,
        store: this.store,
        mirror: this.mirror,
        status,
        discover: this.discover,
      }))
      this.ops = new ClusterOps(
        observeWrites(this.store, (w) => follower.ownWrites(w)),
        1450,
        scopedReader(this.mirror, follower, this.store),
      )
      await follower.start()
    } else {
      this.ops = new ClusterOps(
        observeWrites(this.store, (w) => this.mirror.ownWrites(w)),
        1450,
        this.mirror,
      )
      const mirror = this.mirror
      this.tree = followStore(
        {
          ...this.store,
          watch: (p, on, h) =>
            this.store.watch(
              p,
              async (e) => {
                await on(e)
                this.treeSynced = true
              },
              h,
            ),
        } as ClusterStore,
        ROOT,
        mirror,
        status,
      )
    }
  }

  /** The mirror holds the full current state of what this host follows. */
  synced(): boolean {
    return this.design === 'scoped' ? this.follower!.ready() : this.treeSynced
  }

  /** Resolves once synced() holds or `timeoutMs` passed (polled: the follower has no event for it). */
  async whenSynced(timeoutMs: number): Promise<void> {
    const deadline = now() + timeoutMs
    while (!this.synced() && now() < deadline) await Bun.sleep(20) // polling a condition with a deadline
  }

  /** Networks followed (scoped) and keys mirrored. */
  footprint(): { following: number; keys: number } {
    return { following: this.follower?.following().length ?? -1, keys: this.db.entries().size }
  }

  /** A new sandbox of this host connected to a network (the real connect: guess from the mirror, CAS txn). */
  async connect(network: string): Promise<EndpointRecord> {
    const sandbox = `${this.node}-new-${this.connects++}`
    return this.ops.connect({ network, sandbox }, this.node, () => new Set())
  }

  seen(key: string): Promise<number> {
    return this.datapath.seen(key)
  }

  async stop(): Promise<void> {
    await this.follower?.stop()
    this.tree?.stop()
    await this.tree?.done
    await this.reconciler.stop()
    this.db.close()
  }
}
