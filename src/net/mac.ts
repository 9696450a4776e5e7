// MAC address helpers (pure): Docker's deterministic "02:42:" + IPv4 bytes scheme.
import { ValidationError } from '../errors/index.ts'
import { ipv4Bytes } from './ip.ts'

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/

/** The endpoint MAC Docker uses: locally administered 02:42 followed by the 4 IPv4 bytes. */
export function macFromIp(ip: string): string {
  return ['02', '42', ...ipv4Bytes(ip).map((b) => b.toString(16).padStart(2, '0'))].join(':')
}

/** Normalise a MAC ("02-42-0A-..." or "02:42:0a:...") to lower-case colon form; throws ValidationError. */
export function parseMac(input: string, what = 'MAC address'): string {
  const s = typeof input === 'string' ? input.trim().toLowerCase().replaceAll('-', ':') : ''
  if (!MAC.test(s)) throw new ValidationError(`${what} "${input}" is not a MAC address (expected e.g. 02:42:0a:00:01:02)`)
  const first = parseInt(s.slice(0, 2), 16)
  if (first & 1) throw new ValidationError(`${what} ${s} is a multicast address: an endpoint needs a unicast MAC`)
  if (s === '00:00:00:00:00:00') throw new ValidationError(`${what} must not be all zeros`)
  return s
}
