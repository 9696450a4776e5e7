// Level-triggered: every weft network exists in this host's Docker (same name, driver and
// IPAM driver weft, option weft.network-id), and no Docker network of driver weft outlives
// its weft network. Any wakeup (a view change, a timer, a refused `docker network rm`) runs
// the same comparison; nothing is assumed from the wakeup itself.
import type { Logger } from '../log.ts'
import type { DockerBackend, NetworkRecord } from './backend.ts'
import { DockerApiError, type DockerEngine, type DockerNetwork } from './engine.ts'
import type { DockerHandlers } from './handlers.ts'
import { dockerCreateBody } from './options.ts'
import { PLUGIN_NAME, WEFT_NETWORK_ID_OPTION } from './protocol.ts'

const RESYNC_MS = 5_000

export interface NetworkSyncDeps {
  backend: DockerBackend
  engine: DockerEngine
  handlers: DockerHandlers
  log: Logger
}

/** The weft network a Docker network of driver weft stands for, or undefined (pure). */
export function matchNetwork(
  d: DockerNetwork,
  nets: readonly NetworkRecord[],
): NetworkRecord | undefined {
  const byId = d.Options?.[WEFT_NETWORK_ID_OPTION]
  const subnet = d.IPAM?.Config?.[0]?.Subnet
  return nets.find(
    (n) => n.name === d.Name && n.subnet === subnet && (byId === undefined || byId === n.id),
  )
}

export class NetworkSync {
  private running: Promise<void> | null = null
  private again = false
  private timer: ReturnType<typeof setInterval> | null = null
  private unsubscribe: (() => void) | null = null
  /** Failures already logged, so a standing one is logged once, not every pass. */
  private reported = new Set<string>()
  private stopped = false

  constructor(private readonly deps: NetworkSyncDeps) {}

  start(): void {
    this.unsubscribe = this.deps.backend.onChange(() => this.trigger())
    this.timer = setInterval(() => this.trigger(), RESYNC_MS)
    this.trigger()
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.unsubscribe?.()
    if (this.timer) clearInterval(this.timer)
    await this.running
  }

  trigger(): void {
    if (this.stopped) return
    if (this.running) {
      this.again = true
      return
    }
    this.running = (async () => {
      do {
        this.again = false
        try {
          await this.pass()
        } catch (e) {
          this.report('pass', `docker network sync failed: ${(e as Error).message}`)
        }
      } while (this.again && !this.stopped)
    })().finally(() => {
      this.running = null
    })
  }

  /** Resolves after a pass that started after this call. */
  async settled(): Promise<void> {
    await this.running
    this.trigger()
    await this.running
  }

  private report(key: string, msg: string): void {
    if (this.reported.has(key)) return
    this.reported.add(key)
    this.deps.log.warn({ err: msg }, 'docker network sync')
  }

  private async pass(): Promise<void> {
    const { backend, engine, handlers, log } = this.deps
    // pending first, then the view, then Docker: a network `docker network create` is making
    // is in one of the first two by the time Docker lists it
    const pending = handlers.pendingDockerIds()
    const pendingSubnets = handlers.pendingSubnets()
    // a network being removed keeps its Docker networks until it is gone (the removal may be called off)
    const nets = backend.networks()
    const docker = await engine.networks(PLUGIN_NAME)
    const present = new Set<string>()
    for (const d of docker) {
      if (d.Driver !== PLUGIN_NAME) continue
      const n = matchNetwork(d, nets)
      if (n) {
        handlers.mapNetwork(d.Id, n.id)
        present.add(n.id)
        continue
      }
      if (pending.has(d.Id)) continue
      // its weft network is gone: Docker refuses while a container of this host is attached
      handlers.removingOurselves.add(d.Id)
      try {
        await engine.removeNetwork(d.Id)
        log.info({ network: d.Name }, 'removed docker network whose weft network is gone')
        this.reported.delete(`rm:${d.Id}`)
      } catch (e) {
        this.report(`rm:${d.Id}`, `cannot remove docker network ${d.Name}: ${(e as Error).message}`)
      } finally {
        handlers.removingOurselves.delete(d.Id)
      }
    }
    for (const n of nets) {
      if (present.has(n.id) || n.removing || pendingSubnets.has(n.subnet)) continue
      try {
        const id = await engine.createNetwork(dockerCreateBody(n))
        handlers.mapNetwork(id, n.id)
        log.info({ network: n.name }, 'created docker network for weft network')
        this.reported.delete(`create:${n.id}`)
      } catch (e) {
        const why =
          e instanceof DockerApiError && e.status === 409
            ? ' (a docker network of that name and another driver exists)'
            : ''
        this.report(
          `create:${n.id}`,
          `cannot create docker network ${n.name}${why}: ${(e as Error).message}`,
        )
      }
    }
  }
}
