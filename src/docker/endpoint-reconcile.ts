// After restarts: Docker's endpoints vs weft's. dockerd restarted with live-restore replays
// nothing, and calls Docker could not deliver while the agent was down (Leave, DeleteEndpoint,
// ReleaseAddress of a `docker rm -f`) are never sent again. So this compares the endpoint
// records of this node that Docker plumbs with the endpoints Docker lists, and releases the
// records (and addresses) of containers Docker no longer has. Runs at start and then
// periodically; a pass that cannot read all of Docker's networks changes nothing.
import type { Logger } from '../log.ts'
import type { DockerBackend, EndpointRecord } from './backend.ts'
import type { DockerEngine } from './engine.ts'
import { PLUGIN_NAME } from './protocol.ts'

/** A record younger than this may be between CreateEndpoint and Join (Docker does not list it yet). */
const GRACE_MS = 10_000

export interface EndpointReconcileDeps {
  backend: DockerBackend
  engine: DockerEngine
  /** Docker EndpointIDs this process is creating right now. */
  inFlight: ReadonlySet<string>
  log: Logger
}

/** Records whose Docker endpoint Docker no longer lists (pure). */
export function orphanedEndpoints(
  records: readonly EndpointRecord[],
  dockerEndpoints: ReadonlySet<string>,
  inFlight: ReadonlySet<string>,
  now: number,
): EndpointRecord[] {
  return records.filter(
    (r) =>
      r.dockerEndpoint !== undefined &&
      !dockerEndpoints.has(r.dockerEndpoint) &&
      !inFlight.has(r.dockerEndpoint) &&
      now - Date.parse(r.created) > GRACE_MS,
  )
}

/** One pass; returns the records it released. */
export async function reconcileEndpoints(deps: EndpointReconcileDeps): Promise<EndpointRecord[]> {
  const mine = deps.backend.dockerEndpoints()
  if (mine.length === 0) return []
  const listed = new Set<string>()
  for (const summary of await deps.engine.networks(PLUGIN_NAME)) {
    const n = await deps.engine.network(summary.Id)
    for (const c of Object.values(n.Containers ?? {})) listed.add(c.EndpointID)
  }
  const orphans = orphanedEndpoints(mine, listed, deps.inFlight, Date.now())
  for (const r of orphans) {
    await deps.backend.removeEndpoint(r.networkId, r.id)
    deps.log.info(
      { endpoint: r.name, ip: r.ip },
      'released the endpoint of a container docker no longer has',
    )
  }
  return orphans
}
