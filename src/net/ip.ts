// IPv4 address and CIDR parsing/formatting (pure): every function either returns a
// normalised value or throws ValidationError. Plain integer arithmetic on the validated dotted
// quad (it was the `ip-address` package, whose BigInt-based parse was a few % of an agent's CPU
// in a 3,000-endpoint converge: subnets are parsed per network per pass, addresses per record).
import { ValidationError } from '../errors/index.ts'

/** A parsed IPv4 subnet. `network` is the first address, `broadcast` the last. */
export interface Cidr {
  network: string
  prefixLen: number
  broadcast: string
  /** "network/prefixLen", normalised. */
  cidr: string
}

const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

/** Parse a plain dotted-quad IPv4 address (no prefix) and return it normalised. */
export function parseIPv4(input: string, what = 'IPv4 address'): string {
  const s = typeof input === 'string' ? input.trim() : ''
  octets(s, input, what)
  return s // no leading zeros, no spaces: already the normal form
}

/** The 4 octets of a dotted quad; throws ValidationError unless it is a valid one. */
function octets(s: string, input: unknown, what: string): [number, number, number, number] {
  const m = DOTTED.exec(s)
  if (m) {
    const o = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])] as [
      number,
      number,
      number,
      number,
    ]
    if (o.every((x, i) => x <= 255 && (m[i + 1]!.length === 1 || m[i + 1]![0] !== '0'))) return o
  }
  throw new ValidationError(
    `${what} "${input}" is not a valid IPv4 address (expected e.g. 10.0.1.2)`,
  )
}

/** The 4 bytes of an IPv4 address, most significant first. */
export function ipv4Bytes(ip: string): [number, number, number, number] {
  return octets(typeof ip === 'string' ? ip.trim() : '', ip, 'IPv4 address')
}

/** Dotted quad of 4 address bytes, most significant first. */
export function ipv4FromBytes(b: Uint8Array): string {
  if (b.byteLength !== 4)
    throw new ValidationError(`an IPv4 address is 4 bytes, got ${b.byteLength}`)
  return [...b].join('.')
}

/** IPv4 address as an unsigned 32-bit integer. */
export function ipv4ToInt(ip: string): number {
  const [a, b, c, d] = ipv4Bytes(ip)
  return ((a << 24) >>> 0) + (b << 16) + (c << 8) + d
}

/** Unsigned 32-bit integer to dotted quad. */
export function intToIPv4(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new ValidationError(`${n} is not a 32-bit unsigned integer`)
  }
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

/**
 * Parse "a.b.c.d/len". The address must be the network address (host bits zero),
 * as `docker network create --subnet` requires.
 */
export function parseCidr(input: string, what = 'subnet'): Cidr {
  const s = typeof input === 'string' ? input.trim() : ''
  const slash = s.indexOf('/')
  if (slash < 0)
    throw new ValidationError(`${what} "${input}" is not a CIDR (expected e.g. 10.0.1.0/24)`)
  const addrPart = s.slice(0, slash)
  let addr: string
  try {
    addr = parseIPv4(addrPart, what)
  } catch {
    throw new ValidationError(
      `${what} "${input}" is not a valid CIDR: "${addrPart}" is not an IPv4 address (expected e.g. 10.0.1.0/24)`,
    )
  }
  const lenStr = s.slice(slash + 1)
  if (!/^\d{1,2}$/.test(lenStr) || Number(lenStr) > 32) {
    throw new ValidationError(`${what} "${input}" has an invalid prefix length (expected 0..32)`)
  }
  const prefixLen = Number(lenStr)
  const mask = maskOf(prefixLen)
  const base = ipv4ToInt(addr)
  const network = intToIPv4((base & mask) >>> 0)
  if (network !== addr) {
    throw new ValidationError(
      `${what} "${input}" has host bits set: did you mean ${network}/${prefixLen}?`,
    )
  }
  return {
    network,
    prefixLen,
    broadcast: intToIPv4((base | ~mask) >>> 0),
    cidr: `${network}/${prefixLen}`,
  }
}

/** The netmask of a prefix length as a signed 32-bit pattern (0 for /0). */
const maskOf = (prefixLen: number) => (prefixLen === 0 ? 0 : -1 << (32 - prefixLen))

/** True when `ip` lies inside `cidr` (network and broadcast addresses included). */
export function ipInSubnet(ip: string, cidr: string | Cidr): boolean {
  const c = typeof cidr === 'string' ? parseCidr(cidr) : cidr
  const mask = maskOf(c.prefixLen)
  return (ipv4ToInt(parseIPv4(ip)) & mask) === (ipv4ToInt(c.network) & mask)
}

/**
 * Check that `ip` can be assigned to a host in `cidr`: inside it, and neither the network
 * nor the broadcast address (for prefixes shorter than /31). Throws ValidationError.
 */
export function assertHostAddress(ip: string, cidr: string | Cidr, what = 'address'): void {
  const c = typeof cidr === 'string' ? parseCidr(cidr) : cidr
  const addr = parseIPv4(ip, what)
  if (!ipInSubnet(addr, c))
    throw new ValidationError(`${what} ${addr} is outside the subnet ${c.cidr}`)
  if (c.prefixLen < 31 && (addr === c.network || addr === c.broadcast)) {
    throw new ValidationError(
      `${what} ${addr} is the ${addr === c.network ? 'network' : 'broadcast'} address of ${c.cidr}`,
    )
  }
}

/** "ip/prefixLen" for an address in a subnet, e.g. ("10.0.1.2", "10.0.1.0/24") -> "10.0.1.2/24". */
export function formatIfaceAddress(ip: string, cidr: string | Cidr): string {
  const c = typeof cidr === 'string' ? parseCidr(cidr) : cidr
  return `${parseIPv4(ip)}/${c.prefixLen}`
}
