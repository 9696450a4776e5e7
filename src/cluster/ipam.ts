// Address management rules (pure): Docker's defaults — gateway is the first address,
// containers get addresses in order from the next one, default subnets 10.0.N.0/24,
// VNIs from 256 upward.
import { intToIPv4, ipv4ToInt, parseCidr, VNI_MAX, type Cidr } from '../net/index.ts'

export const FIRST_VNI = 256

/** First usable address of a subnet (Docker's default gateway). */
export function defaultGateway(subnet: Cidr): string {
  return intToIPv4(ipv4ToInt(subnet.network) + (subnet.prefixLen >= 31 ? 0 : 1))
}

/** Inclusive integer range of assignable host addresses in `subnet` (and `range`, if given). */
function hostRange(subnet: Cidr, range?: Cidr): [number, number] {
  const outer =
    subnet.prefixLen >= 31
      ? [ipv4ToInt(subnet.network), ipv4ToInt(subnet.broadcast)]
      : [ipv4ToInt(subnet.network) + 1, ipv4ToInt(subnet.broadcast) - 1]
  if (!range) return outer as [number, number]
  return [
    Math.max(outer[0]!, ipv4ToInt(range.network)),
    Math.min(outer[1]!, ipv4ToInt(range.broadcast)),
  ]
}

/** The lowest free address, skipping the gateway and `taken`; undefined when full. */
export function nextFreeAddress(
  subnet: Cidr,
  gateway: string,
  taken: ReadonlySet<string>,
  range?: Cidr,
): string | undefined {
  const [lo, hi] = hostRange(subnet, range)
  const gw = ipv4ToInt(gateway)
  for (let n = lo; n <= hi; n++) {
    if (n === gw) continue
    const ip = intToIPv4(n)
    if (!taken.has(ip)) return ip
  }
  return undefined
}

/**
 * Whether a lowest-free choice of `chosen` passed over `ip` (an assignable address below it):
 * `chosen` is the lowest free one only while every such address stays taken.
 */
export function passedOver(
  ip: string,
  chosen: string,
  subnet: Cidr,
  gateway: string,
  range?: Cidr,
): boolean {
  const n = ipv4ToInt(ip)
  return n >= hostRange(subnet, range)[0] && n < ipv4ToInt(chosen) && n !== ipv4ToInt(gateway)
}

/** True when two subnets share any address. */
export function subnetsOverlap(a: Cidr, b: Cidr): boolean {
  const [a0, a1] = [ipv4ToInt(a.network), ipv4ToInt(a.broadcast)]
  const [b0, b1] = [ipv4ToInt(b.network), ipv4ToInt(b.broadcast)]
  return a0 <= b1 && b0 <= a1
}

/** Docker's default pool: the first 10.0.N.0/24 that overlaps none of `used`. */
export function nextDefaultSubnet(used: readonly Cidr[]): Cidr | undefined {
  for (let n = 0; n < 256; n++) {
    const c = parseCidr(`10.0.${n}.0/24`)
    if (!used.some((u) => subnetsOverlap(u, c))) return c
  }
  return undefined
}

/** The lowest VNI >= 256 not in `used`. */
export function nextFreeVni(used: ReadonlySet<number>): number {
  for (let v = FIRST_VNI; v <= VNI_MAX; v++) if (!used.has(v)) return v
  throw new Error('no free VNI left')
}
