// Published ports (`--publish [HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp]`, Docker's -p): the
// parser and the checks (pure). A published port is stored in its endpoint's record and
// programmed by the endpoint's host (./nft.ts).
import { ValidationError } from '../errors/index.ts'
import { parseIPv4 } from '../net/index.ts'

export type PortProto = 'tcp' | 'udp'

export interface PublishedPort {
  proto: PortProto
  /** Host address the port is published on; absent: every address of the host. */
  hostIp?: string
  hostPort: number
  containerPort: number
}

const PORT = /^\d{1,5}$/

function port(v: string, what: string, spec: string): number {
  const n = Number(v)
  if (!PORT.test(v) || n < 1 || n > 65535) {
    throw new ValidationError(`--publish "${spec}": ${what} "${v}" must be a port number 1..65535`)
  }
  return n
}

/** "[HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp]" -> PublishedPort (default tcp). */
export function parsePublish(spec: string): PublishedPort {
  if (typeof spec !== 'string' || spec.length === 0) throw new ValidationError('--publish needs [HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp]')
  const [ports, proto = 'tcp', ...rest] = spec.split('/')
  if (rest.length || (proto !== 'tcp' && proto !== 'udp')) {
    throw new ValidationError(`--publish "${spec}": the protocol must be /tcp or /udp`)
  }
  const parts = ports!.split(':')
  if (parts.length < 2 || parts.length > 3) {
    throw new ValidationError(`--publish "${spec}" must be [HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp] (ranges and IPv6 are not supported)`)
  }
  const [hostIp, hostPort, containerPort] = parts.length === 3 ? parts : [undefined, ...parts]
  return checkPublished({
    proto,
    ...(hostIp !== undefined && hostIp !== '' ? { hostIp } : {}),
    hostPort: port(hostPort!, 'host port', spec),
    containerPort: port(containerPort!, 'container port', spec),
  })
}

/** Validate a PublishedPort from JSON (API input, records); returns a normalised copy. */
export function checkPublished(p: PublishedPort): PublishedPort {
  const what = `published port ${JSON.stringify(p)}`
  if (p === null || typeof p !== 'object') throw new ValidationError(`${what} must be {proto, hostIp?, hostPort, containerPort}`)
  if (p.proto !== 'tcp' && p.proto !== 'udp') throw new ValidationError(`${what}: proto must be "tcp" or "udp"`)
  for (const k of ['hostPort', 'containerPort'] as const) {
    if (!Number.isInteger(p[k]) || p[k] < 1 || p[k] > 65535) throw new ValidationError(`${what}: ${k} must be 1..65535`)
  }
  const hostIp = p.hostIp === undefined || p.hostIp === '0.0.0.0' ? undefined : parseIPv4(p.hostIp, 'published host address')
  return { proto: p.proto, ...(hostIp ? { hostIp } : {}), hostPort: p.hostPort, containerPort: p.containerPort }
}

/** The same host port and protocol twice (on any addresses: a host port is published once). */
export function duplicatePort(ports: PublishedPort[]): PublishedPort | undefined {
  const seen = new Set<string>()
  for (const p of ports) {
    const k = portKey(p)
    if (seen.has(k)) return p
    seen.add(k)
  }
  return undefined
}

/** "tcp/8080": what makes a publication unique on its host. */
export const portKey = (p: Pick<PublishedPort, 'proto' | 'hostPort'>) => `${p.proto}/${p.hostPort}`

/** "[HOST_IP:]HOST_PORT->CONTAINER_PORT/proto", as `docker ps` shows it. */
export const formatPublished = (p: PublishedPort) => `${p.hostIp ?? '0.0.0.0'}:${p.hostPort}->${p.containerPort}/${p.proto}`
