// Addresses that parse but cannot work in an overlay: refused up front with the reason, so
// traffic never vanishes while being counted as sent. Pure functions (no I/O); callers turn
// a reason into a 400 (ValidationError).
import { ValidationError } from '../errors/index.ts'
import { parseCidr, parseIPv4, ipv4ToInt } from '../net/index.ts'

interface Block {
  cidr: string
  first: number
  last: number
  /** Why an address in this block cannot be a container's or a VTEP's. */
  why: string
}

const block = (cidr: string, why: string): Block => {
  const c = parseCidr(cidr)
  return { cidr, first: ipv4ToInt(c.network), last: ipv4ToInt(c.broadcast), why }
}

/** Space no overlay subnet may touch (RFC 6890 "not forwardable" or not unicast). */
const SUBNET_BLOCKS: readonly Block[] = [
  block('0.0.0.0/8', '"this network": a source-only range that is never routed'),
  block('127.0.0.0/8', 'loopback: the kernel keeps these addresses inside each host'),
  block('169.254.0.0/16', 'link-local: never forwarded beyond one link'),
  block('224.0.0.0/4', 'multicast: not unicast host addresses'),
  block(
    '240.0.0.0/4',
    'reserved (and 255.255.255.255 is the limited broadcast): Linux does not route it',
  ),
]

/**
 * A VTEP must be a unicast address a UDP datagram can be sent to across the underlay.
 * Link-local is allowed: an underlay may be one L2 segment numbered 169.254/16.
 */
const VTEP_BLOCKS: readonly Block[] = SUBNET_BLOCKS.filter((b) => b.cidr !== '169.254.0.0/16')

const whyNot = (e: unknown) => (e instanceof ValidationError ? e.message : String(e))

/**
 * Why an overlay subnet cannot work, or undefined when it can. A subnet is refused when any
 * part of it overlaps a reserved block (e.g. 0.0.0.0/0, 192.0.0.0/2 or 127.0.0.0/24).
 */
export function unusableSubnetReason(cidr: string): string | undefined {
  let first: number
  let last: number
  let norm: string
  try {
    const c = parseCidr(cidr, 'subnet')
    first = ipv4ToInt(c.network)
    last = ipv4ToInt(c.broadcast)
    norm = c.cidr
  } catch (e) {
    return whyNot(e)
  }
  const hit = SUBNET_BLOCKS.find((b) => first <= b.last && b.first <= last)
  if (!hit) return undefined
  return `subnet ${norm} overlaps ${hit.cidr}, ${hit.why}: pick a private range such as 10.0.1.0/24`
}

/**
 * Why an external endpoint's VTEP cannot work, or undefined when it can. `nodeAddresses`
 * are the advertise addresses of weft nodes (a Map gives node name -> address, so the reason
 * can name the node): a weft node is no external VTEP, its containers connect through it.
 */
export function unusableVtepReason(
  ip: string,
  nodeAddresses: Iterable<string> | ReadonlyMap<string, string>,
): string | undefined {
  let addr: string
  try {
    addr = parseIPv4(ip, 'vtep')
  } catch (e) {
    return whyNot(e)
  }
  const n = ipv4ToInt(addr)
  const hit = VTEP_BLOCKS.find((b) => b.first <= n && n <= b.last)
  if (hit)
    return `vtep ${addr} is in ${hit.cidr}, ${hit.why}: give the unicast underlay address of the external VTEP`
  const owners: [string | undefined, string][] =
    nodeAddresses instanceof Map
      ? [...nodeAddresses.entries()]
      : [...(nodeAddresses as Iterable<string>)].map((a) => [undefined, a])
  const owner = owners.find(([, a]) => sameAddress(a, addr))
  if (owner) {
    const who = owner[0] ? `weft node ${owner[0]}` : 'a weft node'
    return `vtep ${addr} is the address of ${who}: connect the container on that node instead of declaring it external`
  }
  return undefined
}

function sameAddress(a: string, b: string): boolean {
  try {
    return parseIPv4(a) === b
  } catch {
    return false // a node record with an unparsable address owns no VTEP
  }
}
