// The composition root: builds the mirror db, the cluster store (embedded server or a Consul
// client), the datapath, the reconciler, the cluster mirror, node registration, the agent
// service and the admin API, and stops them in reverse order. Wiring only: behaviour lives in
// the units it builds. Startup programs the datapath from the mirror before the store answers.
// A start that fails leaves nothing it made: every made thing is on the stack before the next
// step can fail, and a datapath it found nothing of is removed again.
import { existsSync, rmdirSync } from 'node:fs'
import { join } from 'node:path'
import type { ThreadedEmbeddedStore } from '../kv/index.ts'
import { ClusterOps, keys } from '../cluster/index.ts'
import { StoreStatus, observeWrites } from '../store/index.ts'
import { ClusterMirror, MirrorDb, ScopedFollower, scopedReader } from '../mirror/index.ts'
import { createDatapath, PIN_ROOT } from '../datapath/index.ts'
import { datapathPresent } from '../datapath/switch.ts'
import { findUnderlay, VXLAN_OVERHEAD } from '../net/index.ts'
import { Reconciler } from '../reconcile/index.ts'
import { createProber } from '../probe/index.ts'
import { createDrift } from '../drift/index.ts'
import { agentDoctor, DROP_SAMPLE_MS } from '../doctor/index.ts'
import { serveApi, type ApiListeners } from '../api/index.ts'
import { startNames } from '../dns/index.ts'
import { VERSION, dropCleanBinaryPages } from '../embedded/index.ts'
import { createLogger, type Logger } from '../log.ts'
import { statePath, type AgentConfig } from './config.ts'
import { openClusterStore } from './cluster-store.ts'
import { DisposerStack } from './disposers.ts'
import { agentMetrics } from './metrics.ts'
import { lockPinDir } from './pin-lock.ts'
import { registerNode, type NodeNameHeldError } from './registration.ts'
import { AgentService } from './service.ts'
import { Removals } from './removals.ts'
import { STORE_INCARNATION_FACT, highestRevision, reannounceIfStoreLost } from './incarnation.ts'
import { SandboxFollower } from './sandboxes.ts'
import { ConnectTimings } from './connect-timings.ts'
import { heapCensusOnSignal } from './heap-census.ts'
import { clusterBackend, startDockerPlugin } from '../docker/index.ts'

export interface Agent {
  config: Readonly<AgentConfig>
  /** What the admin API serves (and, later, the Docker plugin and names). */
  service: AgentService
  api: ApiListeners
  kvServer?: ThreadedEmbeddedStore
  /** With the embedded store: the command that joins another host to it (holds the join token). */
  joinCommand?: string
  /**
   * Resolves with the reason when the agent cannot go on and should exit (its node name is held
   * by another host, or its embedded store's thread ended); never rejects. The caller stops the
   * agent and reports the error.
   */
  fatal: Promise<Error>
  /**
   * Stop everything this process runs, once (a second call waits for the first); the datapath
   * stays programmed (live restore). `startFailed` (after `fatal`): the agent never got going,
   * so what this start made goes too, as when startAgent throws.
   */
  stop(opts?: { deregister?: boolean; startFailed?: boolean }): Promise<void>
}

export async function startAgent(
  config: Readonly<AgentConfig>,
  log: Logger = createLogger({
    level: config.logLevel,
    name: config.name,
    format: config.logFormat,
  }),
): Promise<Agent> {
  const stack = new DisposerStack(log)
  try {
    return await build(config, log, stack)
  } catch (e) {
    await stack.dispose()
    throw e
  }
}

async function build(
  config: Readonly<AgentConfig>,
  log: Logger,
  stack: DisposerStack,
): Promise<Agent> {
  const underlay = await findUnderlay(config.advertise)
  // Set once the agent is up: a start that fails before (or is refused its node name) takes
  // back what it made, while a stop after it leaves the datapath programmed (live restore).
  let up = false
  const startFailed = () => !up
  // before anything is created: a second agent with this name on this kernel must not touch its
  // pins (the kernel datapath locks them only to remove what a bpf run left: datapath/switch.ts)
  if (config.datapath === 'bpf') {
    const pinDir = join(PIN_ROOT, config.name)
    const hadPinDir = existsSync(pinDir)
    const lock = lockPinDir(config.name)
    stack.push('pin directory lock', () => {
      lock.release()
      if (startFailed() && !hadPinDir) removeEmptyDir(pinDir)
    })
  }

  // 1. local state: the mirror lets us program the datapath before the store answers
  const db = await MirrorDb.open(statePath(config))
  stack.push('mirror db', () => db.close())
  const mirror = new ClusterMirror(db, {
    onInvalid: (invalid) =>
      log.warn({ invalid: invalid.slice(0, 3) }, 'skipped invalid records in the cluster tree'),
  })

  // 2. the cluster store
  const { store, kvServer, joinCommand, accepted } = await openClusterStore(config, stack, log)
  const storeStatus = new StoreStatus()

  // scoped following: nodes and networks from everyone, endpoints only of networks with a local one
  const follower = new ScopedFollower({
    node: config.name,
    store,
    mirror,
    status: storeStatus,
    log,
  })
  stack.push('watches', () => follower.stop())

  // 3. datapath + reconciler, woken by every change of the mirror
  // the drift guard remembers what was programmed and puts back what changes behind our back
  // a datapath this start finds nothing of is its own: a failed start removes it again
  const fresh = !(await datapathPresent(config.name))
  const drift = createDrift(
    await createDatapath(config.datapath, {
      node: config.name,
      advertise: config.advertise,
      onTakeOver: ({ from, removed }) =>
        log.warn(
          { from, removed },
          `switched this host from the ${from} datapath in place: removed what it left (the endpoints are re-plumbed)`,
        ),
    }),
    { advertise: config.advertise, log },
  )
  const datapath = drift.datapath
  // registered before start(): a start that fails half-way is closed (or, when fresh, removed)
  stack.push('datapath', () => (startFailed() && fresh ? datapath.teardown() : datapath.close()))
  await datapath.start()
  // peers' datapaths as their probes tell, apart from their leases; seeded with the peers the
  // datapath still programs, so a restart here keeps peers whose agent is down too
  let wake = () => {}
  const programmed = (await datapath.actual()).remoteEndpoints
  const prober = createProber({
    me: config.name,
    advertise: config.advertise,
    view: () => mirror.view(),
    programmed,
    onChange: () => wake(),
    log,
  })
  stack.push('prober', () => prober.stop())
  const reconciler = new Reconciler({
    datapath,
    node: config.name,
    view: () => mirror.view(),
    // each change triggers a pass that looks only at the networks it touched
    changes: (listener) => mirror.onChange(listener),
    peers: prober,
    // everything this host follows has answered once (and its own endpoints were looked for)
    mayDetachUnknown: () => follower.ready(),
    log,
    onDetached: (hostIfname) => db.deleteLocalEndpoint(hostIfname),
    onAttached: (spec, result) =>
      db.setLocalEndpoint({
        endpointId: spec.id,
        hostIfname: spec.hostIfname,
        ifindex: 'ifindex' in result ? result.ifindex : null,
        status: 'ifindex' in result ? 'attached' : 'failed',
        error: 'error' in result ? result.error : null,
      }),
  })
  reconciler.start()
  stack.push('reconciler', () => reconciler.stop())
  wake = () => reconciler.trigger()
  prober.start()
  drift.listen(() => reconciler.resync(), { underlayIfindex: underlay.ifindex })
  stack.push('drift listener', () => drift.stop())

  // read-your-own-writes: what this agent wrote is in its view at once (or, the first endpoint of
  // a network here, with the network's first snapshot), not one watch round later
  // what this agent removes is remembered until the view hears of it: the re-announce of a
  // restart (from the last run's mirror) must not write it back
  const removals = new Removals({ mirror, networkSynced: (id) => follower.synced(id) })
  removals.start()
  stack.push('removals listener', () => removals.stop())
  const writes = removals.observe(observeWrites(store, (written) => follower.ownWrites(written)))
  const ops = new ClusterOps(
    writes,
    underlay.mtu - VXLAN_OVERHEAD,
    scopedReader(mirror, follower, store),
  )

  // 4. the agent service behind the admin API
  // endpoints follow their sandbox: a gone namespace releases its endpoints (also those gone while we were down)
  const sandboxes = new SandboxFollower({ node: config.name, mirror, ops, reconciler, log })
  sandboxes.start()
  stack.push('sandbox follower', () => sandboxes.stop())
  const connectTimings = new ConnectTimings()
  const metrics = agentMetrics(config.name, {
    datapath,
    mirror,
    reconciler,
    storeStatus,
    repairs: drift.repairs,
    drift: drift.datapath,
    prober,
    connects: connectTimings,
    storeThread: kvServer,
  })
  let registered = () => false
  const doctor = agentDoctor({
    node: config.name,
    mirror,
    storeStatus,
    registered: () => registered(),
    reconciler,
    datapath,
    localFacts: () => db.localEndpoints(),
    prober,
    storeAddress:
      config.store.kind === 'embedded'
        ? `embedded on this host (port ${config.store.listen.port})`
        : config.store.address,
  })
  stack.push('doctor samples', doctor.sampleEvery(DROP_SAMPLE_MS, log))
  const service = new AgentService({
    node: config.name,
    datapathKind: config.datapath,
    ops,
    mirror,
    reconciler,
    localFacts: () => db.localEndpoints(),
    stats: () => datapath.stats(),
    metrics: () => metrics.text(),
    storeStatus,
    registered: () => registered(),
    peers: () => prober.reports(),
    followed: sandboxes,
    removals,
    doctor: (q) => doctor.run(q),
    connectTimings,
    log,
  })
  stack.push('agent service', () => service.close())
  stack.push('heap census signal', heapCensusOnSignal(config.name, log))

  // names: each local sandbox's queries answered from this view (src/dns), following every change
  const names = startNames({
    node: config.name,
    view: () => mirror.view(),
    resolvConf: config.resolvConf,
    log,
  })
  stack.push('names', () => names.stop())
  stack.push('names listener', mirror.onChange(names.sync))

  // 5. register the node; re-announce what we still have; then follow the store
  const node = {
    name: config.name,
    advertise: config.advertise,
    datapath: config.datapath,
    version: VERSION,
    started: new Date().toISOString(),
  }
  /** Whether this process has made the re-announce decision (its mirror is no longer the last run's). */
  let decidedOnce = false
  let refused!: (e: NodeNameHeldError) => void
  const fatal = new Promise<Error>((resolve) => {
    refused = resolve
    // this host's store thread gone: nobody's requests are answered, so the agent must go too
    void kvServer?.ended.then((e) => {
      log.error({ err: e.message }, 'the embedded store stopped answering')
      resolve(e)
    })
  })
  const registration = registerNode(
    store,
    { ...node, ...(config.apiTcp ? { api: config.apiTcp } : {}) },
    config.ttlMs,
    log,
    {
      onRegistered: async () => {
        storeStatus.answered()
        accepted()
        // write back what the store lacks only if it lost its data (src/agent/incarnation.ts);
        // the revisions tell a store gone back in time only against the last run's mirror
        await reannounceIfStoreLost({
          store,
          memory: {
            remembered: () => db.fact(STORE_INCARNATION_FACT),
            remember: (id) => db.setFact(STORE_INCARNATION_FACT, id),
          },
          reannounce: () => service.reannounce(),
          seenRevision: decidedOnce ? undefined : highestRevision(db.entries().values()),
          nodeKey: keys.node(config.name),
          log,
        })
        decidedOnce = true
        await follower.start()
      },
      onRefusedAtStart: (e) => {
        log.error(
          { err: e.message, heldBy: e.heldBy },
          'refusing to start: the node name is held by another host',
        )
        refused(e)
      },
    },
  )
  registered = () => registration.registered()
  stack.push('registration', () => registration.stop())

  const api = await serveApi(service, {
    socket: config.apiSocket,
    tcp: config.apiTcp,
    token: config.apiToken,
    log,
  })
  stack.push('admin API', () => api.stop())
  if (config.docker) {
    const backend = clusterBackend({
      node: config.name,
      ops,
      store: writes,
      mirror,
      reconciler,
      networkSynced: (id) => follower.synced(id),
    })
    const plugin = startDockerPlugin({
      docker: config.docker,
      socket: config.dockerPluginSocket,
      backend,
      log,
    })
    stack.push('docker plugin', () => plugin.stop())
  }
  // "ready" only once the node is registered: before that, peers do not program this host
  const where = {
    socket: api.socketPath,
    tcp: api.tcp,
    datapath: config.datapath,
    advertise: config.advertise,
  }
  log.info(
    where,
    'admin API listening; registering with the store (the datapath runs from the local mirror meanwhile)',
  )
  void registration.ready.then(() => {
    log.info(where, 'weft agent ready')
    // start-up read most of the binary once; its clean pages need not stay resident
    try {
      log.info(
        { droppedMb: Math.round(dropCleanBinaryPages() / 2 ** 20) },
        'start-up pages dropped',
      )
    } catch (e) {
      log.warn(
        { err: (e as Error).message },
        'cannot drop start-up pages: the agent only stays bigger',
      )
    }
  })

  let stopping: Promise<void> | undefined
  up = true
  return {
    config,
    service,
    api,
    kvServer,
    joinCommand,
    fatal,
    stop(opts = {}) {
      if (opts.startFailed) up = false
      stopping ??= (async () => {
        // deregistering first lets the store drop this node at once instead of after its TTL
        if (opts.deregister) await registration.stop({ deregister: true })
        await stack.dispose()
      })()
      return stopping
    },
  }
}

/** rmdir that leaves a directory with something in it (or a missing one) alone. */
function removeEmptyDir(dir: string): void {
  try {
    rmdirSync(dir)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY') throw e
  }
}
