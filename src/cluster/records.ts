// Records stored as JSON values in the cluster tree, with the zod schemas that check
// them on the way in (API input) and on the way back (values written by other agents).
import { z } from 'zod'

export const NetworkRecord = z.object({
  id: z.string().regex(/^[0-9a-f]{64}$/),
  name: z.string(),
  driver: z.literal('overlay'),
  scope: z.literal('global'),
  vni: z.number().int(),
  subnet: z.string(),
  gateway: z.string(),
  /** Optional narrower range addresses are handed out from (Docker's --ip-range). */
  ipRange: z.string().optional(),
  mtu: z.number().int(),
  labels: z.record(z.string(), z.string()),
  options: z.record(z.string(), z.string()),
  created: z.string(),
  /** Set while `network rm` checks for endpoints; connects refuse a network being removed. */
  removing: z.boolean().optional(),
  /** --internal: no way out (no default route, no NAT), nothing published. */
  internal: z.boolean().optional(),
})
export type NetworkRecord = z.infer<typeof NetworkRecord>

/** A port of an endpoint published on its node (`--publish [HOST_IP:]HOST_PORT:CONTAINER_PORT[/proto]`). */
export const PublishedPortRecord = z.object({
  proto: z.enum(['tcp', 'udp']),
  /** Absent: every address of the node. */
  hostIp: z.string().optional(),
  hostPort: z.number().int().min(1).max(65535),
  containerPort: z.number().int().min(1).max(65535),
})
export type PublishedPortRecord = z.infer<typeof PublishedPortRecord>

export const EndpointRecord = z.object({
  id: z.string().regex(/^[0-9a-f]{64}$/),
  networkId: z.string(),
  /** Sandbox name for containers (or the name given with `connect --name`), the user's name for external endpoints. */
  name: z.string(),
  /** More names the endpoint answers to inside its network (Docker's --network-alias). */
  aliases: z.array(z.string()).optional(),
  ip: z.string(),
  mac: z.string(),
  /** Node that owns it; absent for an external endpoint. */
  node: z.string().optional(),
  /** Sandbox reference on the owning node (netns name, /proc/PID/ns/net, or path). */
  sandbox: z.string().optional(),
  /** Interface name inside the sandbox (eth0, eth1, …). */
  ifname: z.string().optional(),
  /** VTEP of an external endpoint (weft endpoints use their node's advertise address). */
  vtep: z.string().optional(),
  external: z.boolean(),
  created: z.string(),
  /** Ports published on its node (container endpoints only). */
  ports: z.array(PublishedPortRecord).optional(),
  /** "docker": Docker owns the sandbox side (remote driver Join); weft plumbs only the host end. */
  plumbing: z.literal('docker').optional(),
  /** Docker's EndpointID on the owning node, for plumbing "docker". */
  dockerEndpoint: z.string().optional(),
  /** Docker's SandboxKey (the container's netns file on the owning node), for plumbing "docker". */
  dockerSandbox: z.string().optional(),
})
export type EndpointRecord = z.infer<typeof EndpointRecord>

export const NodeRecord = z.object({
  name: z.string(),
  advertise: z.string(),
  datapath: z.enum(['bpf', 'kernel']),
  version: z.string(),
  started: z.string(),
  api: z.string().optional(),
})
export type NodeRecord = z.infer<typeof NodeRecord>

/**
 * A parser of stored entries that parses (and validates) each entry object once: the mirror
 * hands out the same entry objects until they change, so a connect does not parse every
 * network and endpoint record again. Records are frozen: every reader of the entry shares one.
 * Entries read from the store are new objects each time (a miss; the cache lets them go).
 */
export function parsedOnce<T extends object>(
  schema: z.ZodType<T>,
): (row: { value: string }) => Readonly<T> {
  const cache = new WeakMap<object, Readonly<T>>()
  return (row) => {
    let record = cache.get(row)
    if (!record) cache.set(row, (record = Object.freeze(schema.parse(JSON.parse(row.value)))))
    return record
  }
}
