// The cluster's join token, in the spirit of Swarm's SWMTKN-1-<ca digest>-<secret>:
//   WFTKN-1-<sha256 of the store CA's DER, 64 hex>-<secret, 64 hex>
// The digest lets a joining agent verify the store before it sends anything; the secret is
// what every store request carries (X-Consul-Token).
import { randomBytes } from 'node:crypto'
import { ValidationError } from '../../errors/index.ts'

export interface JoinToken {
  /** SHA-256 of the store CA certificate (DER), lowercase hex. */
  caDigest: string
  /** The store's access token. */
  secret: string
}

const PREFIX = 'WFTKN-1-'
const SHAPE = /^WFTKN-1-([0-9a-f]{64})-([0-9a-f]{64})$/

export function formatJoinToken(t: JoinToken): string {
  return `${PREFIX}${t.caDigest}-${t.secret}`
}

export function parseJoinToken(s: string, what = '--join-token'): JoinToken {
  const m = SHAPE.exec(s.trim())
  if (!m) {
    const shown = s.startsWith(PREFIX)
      ? `${PREFIX}…`
      : `"${s.slice(0, 12)}${s.length > 12 ? '…' : ''}"`
    throw new ValidationError(
      `${what} ${shown} is not a weft join token (WFTKN-1-<64 hex>-<64 hex>); copy it whole from the first agent's log or its <data>/join-token`,
    )
  }
  return { caDigest: m[1]!, secret: m[2]! }
}

/**
 * The name every embedded-store certificate carries and joiners verify it by, whatever
 * address they reach it at (NAT, DNS): only the cluster's CA can issue a certificate for it.
 */
export const STORE_SERVER_NAME = 'weft-store'

/** 256 random bits for a new cluster. */
export const newSecret = (): string => randomBytes(32).toString('hex')
