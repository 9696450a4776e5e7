// MAC address helpers (pure): parsing, bytes <-> text, and Docker's deterministic
// "02:42:" + IPv4 bytes scheme.
import { ValidationError } from '../errors/index.ts'
import { ipv4Bytes } from './ip.ts'

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/

/** The endpoint MAC Docker uses: locally administered 02:42 followed by the 4 IPv4 bytes. */
export function macFromIp(ip: string): string {
  return macFromBytes(Uint8Array.of(0x02, 0x42, ...ipv4Bytes(ip)))
}

/** Normalise a MAC ("02-42-0A-..." or "02:42:0a:...") to lower-case colon form; throws ValidationError. */
export function parseMac(input: string, what = 'MAC address'): string {
  const s = typeof input === 'string' ? input.trim().toLowerCase().replaceAll('-', ':') : ''
  if (!MAC.test(s))
    throw new ValidationError(
      `${what} "${input}" is not a MAC address (expected e.g. 02:42:0a:00:01:02)`,
    )
  const first = parseInt(s.slice(0, 2), 16)
  if (first & 1)
    throw new ValidationError(
      `${what} ${s} is a multicast address: an endpoint needs a unicast MAC`,
    )
  if (s === '00:00:00:00:00:00') throw new ValidationError(`${what} must not be all zeros`)
  return s
}

/** The 6 bytes of a MAC in colon form ("02:42:0a:00:01:02"); use parseMac first on untrusted input. */
export function macToBytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(':').map((h) => parseInt(h, 16)))
}

/** Colon form of MAC bytes, lower-case. */
export function macFromBytes(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':')
}
