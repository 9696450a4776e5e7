// Portable key check for keys weft itself writes (docs/CONSUL-API.md §3.6): they must work on every
// Consul version, including 1.21.5's restricted charset and the extension-suffix hardening.
import { ValidationError } from '../../errors/index.ts'

const ALLOWED = /^[A-Za-z0-9_.,/-]+$/
const EXTENSION = /\.(json|js|html?|css|xml|txt|php|asp|aspx|jsp|exe|sh)$/i

/** Throws ValidationError when `key` is not safe to use against every Consul version. */
export function assertPortableKey(key: string): void {
  const bad = (why: string) =>
    new ValidationError(
      `KV key "${key}" ${why}; use [A-Za-z0-9_.,/-] segments (encode IPs/CIDRs, e.g. 10.0.0.0_24)`,
      'invalid_kv_key',
    )
  if (key === '') throw bad('is empty')
  if (!ALLOWED.test(key)) throw bad('has characters outside the portable set')
  if (key.startsWith('/')) throw bad('starts with "/"')
  if (key.includes('//')) throw bad('contains "//"')
  if (key.split('/').some((s) => s === '..' || s === '.'))
    throw bad('contains a "." or ".." segment')
  if (EXTENSION.test(key)) throw bad('ends in a file extension some Consul versions reject')
}
