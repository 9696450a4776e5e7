// IPv4 address and CIDR parsing/formatting (pure). Built on the `ip-address` package;
// every function either returns a normalised value or throws ValidationError.
import { Address4 } from 'ip-address'
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
  const m = DOTTED.exec(s)
  if (!m || m.slice(1).some((o) => Number(o) > 255 || (o.length > 1 && o.startsWith('0')))) {
    throw new ValidationError(
      `${what} "${input}" is not a valid IPv4 address (expected e.g. 10.0.1.2)`,
    )
  }
  return new Address4(s).correctForm()
}

/** The 4 bytes of an IPv4 address, most significant first. */
export function ipv4Bytes(ip: string): [number, number, number, number] {
  const a = new Address4(parseIPv4(ip)).toArray()
  return [a[0]!, a[1]!, a[2]!, a[3]!]
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
  const a = new Address4(`${addr}/${prefixLen}`)
  const network = a.startAddress().correctForm()
  if (network !== addr) {
    throw new ValidationError(
      `${what} "${input}" has host bits set: did you mean ${network}/${prefixLen}?`,
    )
  }
  return {
    network,
    prefixLen,
    broadcast: a.endAddress().correctForm(),
    cidr: `${network}/${prefixLen}`,
  }
}

/** True when `ip` lies inside `cidr` (network and broadcast addresses included). */
export function ipInSubnet(ip: string, cidr: string | Cidr): boolean {
  const c = typeof cidr === 'string' ? parseCidr(cidr) : cidr
  return new Address4(parseIPv4(ip)).isInSubnet(new Address4(c.cidr))
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
