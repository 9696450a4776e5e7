// The composition root: builds the local store, the cluster store (embedded server or a
// Consul client), the datapath, the reconciler, node registration, the watch and the admin
// API, starts them in order and stops them in reverse. It is the only module that imports
// everything. Startup programs the datapath from the local mirror before the store answers.
import { StoreUnreachableError, ValidationError } from '../errors/index.ts'
import { ConsulClient, serveKv, type ServedKv } from '../kv/index.ts'
import { clusterView, viewWith, ROOT, type ClusterView, type EndpointRecord, type ParseCache } from '../cluster/index.ts'
import { ClusterOps, type ClusterKv, type ConnectInput, type CreateNetworkInput } from '../cluster/operations.ts'
import { createDatapath, type Datapath } from '../datapath/index.ts'
import { findUnderlay, hostIfnameFor, resolveSandbox, sandboxPath } from '../net/index.ts'
import { Reconciler } from '../reconcile/index.ts'
import { LocalStore, type MirrorEntry } from '../store/index.ts'
import { serveApi, type AgentApi, type ApiListeners, type EndpointStatus, type HealthReport, type NodeStatus } from '../api/index.ts'
import { VERSION } from '../embedded/index.ts'
import { createLogger, type Logger } from '../log.ts'
import { kvPath, statePath, type AgentConfig } from './config.ts'
import { createMetrics } from './metrics.ts'
import { clusterBackend, startDockerPlugin } from '../docker/index.ts'
import { registerNode, type Registration } from './registration.ts'

/** How long an API connect waits for the local datapath to program the endpoint. */
const ATTACH_TIMEOUT_MS = 15_000

export interface Agent extends AgentApi {
  config: Readonly<AgentConfig>
  api: ApiListeners
  kvServer?: ServedKv
  /** Stop everything this process runs; the datapath stays programmed (live restore). */
  stop(opts?: { deregister?: boolean }): Promise<void>
}

const text = new TextDecoder()

/** The slice of the Consul client that cluster operations use; `committed` hears every entry a transaction wrote. */
function clusterKv(kv: ConsulClient, committed: (entries: MirrorEntry[]) => void): ClusterKv {
  return {
    async list(prefix) {
      const r = await kv.kv.list(prefix, { consistency: 'consistent' })
      return r.value.map((e) => ({ key: e.key, value: text.decode(e.value), modifyIndex: e.modifyIndex }))
    },
    async txn(ops) {
      const results = await kv.txn(ops)
      // results of writes carry the new ModifyIndex but no Value (Consul's shape): take it from the op
      const values = new Map<string, string>()
      for (const op of ops) {
        if ((op.verb === 'set' || op.verb === 'cas') && op.value !== undefined) {
          values.set(op.key, typeof op.value === 'string' ? op.value : text.decode(op.value))
        }
      }
      committed(results.filter((e) => values.has(e.key)).map((e) => ({ key: e.key, value: values.get(e.key)!, modifyIndex: e.modifyIndex })))
    },
  }
}

export async function startAgent(config: Readonly<AgentConfig>, log: Logger = createLogger({ level: config.logLevel, name: config.name })): Promise<Agent> {
  const stops: (() => Promise<unknown> | unknown)[] = []
  const stopAll = async () => {
    for (const s of stops.reverse()) await Promise.resolve(s()).catch((e) => log.warn({ err: (e as Error).message }, 'stop step failed'))
  }
  try {
    return await build(config, log, stops, stopAll)
  } catch (e) {
    await stopAll()
    throw e
  }
}

async function build(
  config: Readonly<AgentConfig>,
  log: Logger,
  stops: (() => Promise<unknown> | unknown)[],
  stopAll: () => Promise<void>,
): Promise<Agent> {
  const underlay = await findUnderlay(config.advertise)
  const defaultMtu = underlay.mtu - 50

  // 1. local state: the mirror lets us program the datapath before the store answers
  const store = await LocalStore.open(statePath(config))
  stops.push(() => store.close())
  const parseCache: ParseCache = new Map()
  let view: ClusterView = clusterView(store.entries().values(), parseCache)
  const viewWaiters = new Set<() => void>()

  // 2. the cluster store
  let kvServer: ServedKv | undefined
  let storeAddress: string
  if (config.store.kind === 'embedded') {
    kvServer = await serveKv({
      dbPath: kvPath(config),
      hostname: config.store.listen.hostname,
      port: config.store.listen.port,
      nodeName: config.name,
      advertise: `${config.advertise}:${config.store.listen.port}`,
      token: config.storeToken,
      sessionTtlMinMs: Math.min(10_000, config.ttlMs),
    })
    stops.push(() => kvServer!.stop())
    storeAddress = kvServer.url
    log.info({ url: kvServer.url }, 'embedded Consul-compatible store listening')
  } else {
    storeAddress = config.store.address
  }
  const kv = new ConsulClient({ address: storeAddress, token: config.storeToken, retries: 1, timeoutMs: 5000 })

  // 3. datapath + reconciler
  const datapath: Datapath = await createDatapath(config.datapath, { node: config.name, advertise: config.advertise })
  await datapath.start()
  stops.push(() => datapath.close())
  const reconciler = new Reconciler({
    datapath,
    node: config.name,
    view: () => view,
    log,
    onDetached: (hostIfname) => store.deleteLocalEndpoint(hostIfname),
    onAttached: async (spec, result) => {
      await store.setLocalEndpoint({
        endpointId: spec.id,
        hostIfname: spec.hostIfname,
        ifindex: 'ifindex' in result ? result.ifindex : null,
        status: 'ifindex' in result ? 'attached' : 'failed',
        error: 'error' in result ? result.error : null,
      })
    },
  })
  reconciler.start()
  stops.push(() => reconciler.stop())

  // read-your-own-writes: what this agent wrote is in its view at once, not one watch round later
  const writes = clusterKv(kv, (written) => {
    if (!store.applyOwnWrite(written)) return
    view = viewWith(view, written, parseCache)
    reconciler.trigger()
    for (const w of viewWaiters) w()
  })
  const ops = new ClusterOps(
    writes,
    defaultMtu,
    { list: async (prefix) => store.list(prefix) },
  )

  // 4. watch the cluster tree into the local mirror
  let storeReachable = false
  let storeError: string | undefined
  let lastWatchAt = 0
  const startWatch = () => {
    const w = kv.watch(
      ROOT,
      async (snap) => {
        storeReachable = true
        storeError = undefined
        lastWatchAt = Date.now()
        const changed = await store.applySnapshot(
          snap.entries.map((e) => ({ key: e.key, value: text.decode(e.value), modifyIndex: e.modifyIndex })),
          snap.index,
        )
        if (changed) {
          view = clusterView(store.entries().values(), parseCache)
          if (view.invalid.length) log.warn({ invalid: view.invalid.slice(0, 3) }, 'skipped invalid records in the cluster tree')
        }
        reconciler.trigger()
        for (const w of viewWaiters) w()
      },
      {
        waitMs: 60_000,
        // A snapshot is the whole tree: handling one (mirror diff, view) may take at most ~1/10
        // of the time, so a small cluster sees every change at once and a burst of writes to a
        // big tree is coalesced. The bucket only stops a flapping key from spinning. (This
        // agent's own writes reach its view without the watch: see clusterKv.)
        paceFactor: 10,
        rateLimit: { burst: 10, perSecond: 50 },
        onError: (e) => {
          storeReachable = false
          storeError = (e as Error).message
          log.debug({ err: storeError }, 'watch failed; backing off')
        },
      },
    )
    stops.push(() => {
      w.stop()
      return w.done
    })
  }

  // 5. register the node; re-announce what we still have; then follow the store
  const me = () => [...view.endpoints.values()].filter((e) => e.node === config.name)
  let watching = false
  const registration: Registration = registerNode(
    kv,
    {
      name: config.name,
      advertise: config.advertise,
      datapath: config.datapath,
      version: VERSION,
      started: new Date().toISOString(),
      ...(config.apiTcp ? { api: config.apiTcp } : {}),
    },
    config.ttlMs,
    log,
    async () => {
      storeReachable = true
      const mine = me().filter((e) => view.networks.has(e.networkId))
      const n = await ops.reannounce(mine)
      if (n) log.info({ endpoints: n }, 're-announced endpoints the store had lost')
      if (!watching) {
        watching = true
        startWatch()
      }
    },
  )
  stops.push(() => registration.stop())

  // 6. the admin API
  const waitForView = async (cond: () => boolean, timeoutMs: number, what: string) => {
    const deadline = Date.now() + timeoutMs
    while (!cond()) {
      if (Date.now() > deadline) throw new StoreUnreachableError(`timed out waiting for ${what}: is the store reachable?`)
      await new Promise<void>((resolve) => {
        const done = () => {
          viewWaiters.delete(done)
          clearTimeout(t)
          resolve()
        }
        const t = setTimeout(done, 100)
        viewWaiters.add(done)
      })
    }
  }

  /** Attach status of this node's endpoints (others' endpoints carry none). */
  const withStatus = async (records: EndpointRecord[]): Promise<EndpointStatus[]> => {
    const facts = new Map((await store.localEndpoints()).map((f) => [f.endpointId, f]))
    return records.map((e): EndpointStatus => {
      if (e.external || e.node !== config.name) return { record: e }
      const err = reconciler.localError(hostIfnameFor(e.id))
      if (err) return { record: e, status: 'failed', error: err }
      return { record: e, status: facts.get(e.id)?.status === 'attached' ? 'attached' : 'pending' }
    })
  }

  const guardStore = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn()
    } catch (e) {
      if (e instanceof StoreUnreachableError) {
        storeReachable = false
        throw new StoreUnreachableError(`store unreachable at ${storeAddress}: ${e.message.split(': ').slice(-1)[0]}; writes fail until it is back (existing traffic keeps flowing)`)
      }
      throw e
    }
  }

  // Connects of one sandbox run one at a time: each picks the lowest free ethN from the
  // view, which must already hold the previous connect's endpoint.
  const sandboxQueues = new Map<string, Promise<unknown>>()
  const oneAtATime = <T>(sandbox: string, fn: () => Promise<T>): Promise<T> => {
    const key = sandboxPath(sandbox)
    const run = (sandboxQueues.get(key) ?? Promise.resolve()).catch(() => {}).then(fn)
    sandboxQueues.set(key, run)
    void run.finally(() => sandboxQueues.get(key) === run && sandboxQueues.delete(key)).catch(() => {})
    return run
  }

  const sandboxIfnames = (sandbox: string) => {
    const path = sandboxPath(sandbox)
    return new Set(me().filter((e) => e.sandbox && sandboxPath(e.sandbox) === path).map((e) => e.ifname ?? ''))
  }

  /** Connect a sandbox on this node: write, then wait until the reconciler attached it. */
  const connectLocal = async (input: ConnectInput): Promise<EndpointStatus> => {
    const rec = await ops.connect(input, config.name, sandboxIfnames)
    // wait until the watch brought it here and the reconciler programmed it
    const ifname = hostIfnameFor(rec.id)
    try {
      await waitForView(() => view.endpoints.has(rec.id), ATTACH_TIMEOUT_MS, `endpoint ${rec.id.slice(0, 12)} to arrive from the store`)
      await reconciler.attachDone(ifname)
      const err = reconciler.localError(ifname) ?? (reconciler.isAttached(ifname) ? undefined : reconciler.stats.lastError ?? 'not programmed')
      if (err) throw new ValidationError(`attach ${rec.name} to ${input.network} failed: ${err}`)
      return { record: rec, status: 'attached' }
    } catch (e) {
      // undo: nothing half-made stays behind
      await ops.disconnect(rec.networkId, rec.name, config.name).catch(() => {})
      reconciler.trigger()
      throw e
    }
  }

  const metrics = createMetrics({
    stats: () => datapath.stats(),
    networkName: (vni) => [...view.networks.values()].find((n) => n.vni === vni)?.name,
    reconcile: () => reconciler.stats,
    watchLagSeconds: () => (lastWatchAt ? (Date.now() - lastWatchAt) / 1000 : -1),
    storeReachable: () => storeReachable,
    endpointCounts: () => {
      const all = [...view.endpoints.values()]
      return { local: all.filter((e) => e.node === config.name).length, remote: all.filter((e) => e.node !== config.name).length }
    },
  })

  const agentApi: AgentApi = {
    node: config.name,
    listNetworks: () => guardStore(async () => (await ops.networks()).map((n) => n.record).sort((a, b) => a.name.localeCompare(b.name))),
    createNetwork: (input: CreateNetworkInput) => guardStore(() => ops.createNetwork(input)),
    getNetwork: (ref) => guardStore(async () => (await ops.resolveNetwork(ref)).record),
    removeNetwork: (ref) =>
      guardStore(async () => {
        const r = await ops.removeNetwork(ref)
        reconciler.trigger()
        return r
      }),
    endpoints: (networkId) =>
      guardStore(async () => {
        const id = networkId ? (await ops.resolveNetwork(networkId)).record.id : undefined
        return withStatus(await ops.endpoints(id))
      }),
    connect: (input: ConnectInput) =>
      guardStore(async () => {
        if (!input.external) {
          if (!input.sandbox) throw new ValidationError('sandbox is required (or external: {name, mac, vtep})')
          resolveSandbox(input.sandbox) // a missing sandbox fails here, before anything is written
          return oneAtATime(input.sandbox, () => connectLocal(input))
        }
        return { record: await ops.connect(input, config.name, sandboxIfnames) }
      }),
    disconnect: (network, endpoint) =>
      guardStore(async () => {
        const rec = await ops.disconnect(network, endpoint, config.name)
        if (!rec.external) {
          await waitForView(() => !view.endpoints.has(rec.id), ATTACH_TIMEOUT_MS, 'the disconnect to arrive from the store').catch(() => {})
          await reconciler.settled()
        }
        return rec
      }),
    nodes: async () => {
      const counts = new Map<string, number>()
      for (const e of view.endpoints.values()) if (e.node) counts.set(e.node, (counts.get(e.node) ?? 0) + 1)
      const names = new Set([...view.nodes.keys(), ...counts.keys()])
      return [...names].sort().map(
        (name): NodeStatus => ({ name, record: view.nodes.get(name), alive: view.nodes.has(name), endpoints: counts.get(name) ?? 0 }),
      )
    },
    stats: () => datapath.stats(),
    health: async (): Promise<HealthReport> => ({
      ok: storeReachable && registration.registered() && reconciler.stats.lastError === null,
      node: config.name,
      store: { reachable: storeReachable, ...(storeError ? { lastError: storeError } : {}) },
      datapath: config.datapath,
      reconcile: { passes: reconciler.stats.passes, lastDurationMs: reconciler.stats.lastDurationMs, lastError: reconciler.stats.lastError },
    }),
    metrics: () => metrics.text(),
  }

  const api = await serveApi(agentApi, { socket: config.apiSocket, tcp: config.apiTcp, token: config.apiToken, log })
  stops.push(() => api.stop())
  if (config.docker) {
    const plugin = startDockerPlugin({
      docker: config.docker,
      socket: config.dockerPluginSocket,
      log,
      backend: clusterBackend({
        node: config.name, ops, kv: writes, view: () => view, waitForView,
        onViewChange: (fn) => (viewWaiters.add(fn), () => viewWaiters.delete(fn)),
        attach: {
          done: (h) => reconciler.attachDone(h), error: (h) => reconciler.localError(h), attached: (h) => reconciler.isAttached(h),
          settled: () => reconciler.settled(), trigger: () => reconciler.trigger(),
        },
      }),
    })
    stops.push(() => plugin.stop())
  }
  log.info({ socket: api.socketPath, tcp: api.tcp, datapath: config.datapath, advertise: config.advertise }, 'weft agent ready')

  return {
    ...agentApi,
    config,
    api,
    kvServer,
    async stop(opts = {}) {
      if (opts.deregister) await registration.stop({ deregister: true })
      await stopAll()
    },
  }
}
