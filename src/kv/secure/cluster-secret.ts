// Secure by default, as `docker swarm init`: the first agent (the one serving the embedded
// store) makes the cluster's CA and join token once and keeps them under <data>/; the store
// serves TLS with a certificate from that CA and refuses any request without the token. A
// joining agent gets everything it needs from the join token: the secret, and the CA's digest
// to verify the store with before it sends the secret.
//
//   <data>/store-ca.pem   the CA certificate and its private key (0600)
//   <data>/join-token     WFTKN-1-<CA digest>-<secret> (0600)
//
// The store's server certificate is issued afresh at every start and never written to disk.
// Rotating the secret: remove <data>/join-token and restart (joined hosts need the new token);
// the CA stays. Removing store-ca.pem as well starts a new CA.
import { createPublicKey, X509Certificate } from 'node:crypto'
import { join } from 'node:path'
import { ValidationError } from '../../errors/index.ts'
import type { TransportOptions } from '../client/http.ts'
import { STORE_SERVER_NAME, formatJoinToken, newSecret, parseJoinToken } from './join-token.ts'
import { createSecretFile, readSecretFile } from './secret-files.ts'
import { certDigest, createCa, issueServerCert, type CaMaterial } from './x509.ts'

const CA_DAYS = 20 * 365
const SERVER_CERT_DAYS = 5 * 365

export const joinTokenPath = (dataDir: string) => join(dataDir, 'join-token')
export const caPath = (dataDir: string) => join(dataDir, 'store-ca.pem')

/** What a client of the store needs: where it is, the token, how to verify it. */
export type StoreClientOptions = Pick<TransportOptions, 'address' | 'token' | 'tls'>

export interface ClusterSecret {
  /** The secret every store request carries (X-Consul-Token): the embedded server's `token`. */
  token: string
  /** The whole join token (WFTKN-1-…), what joining agents are given. */
  joinToken: string
  /** SHA-256 of the CA certificate, hex. */
  caDigest: string
  /** serveKv's `tls` (cert = server certificate followed by the CA) and the CA alone. */
  tls: { cert: string; key: string; ca: string }
  /** The command that joins another host to this store, e.g. joinCommand('10.0.0.1:8500'). */
  joinCommand(storeHostPort: string): string
  /** Options for this host's own client of the store it serves (`url` from serveKv). */
  clientOptions(url: string): StoreClientOptions
}

/**
 * Load the cluster's CA and join token from `dataDir`, creating them on first start, and issue
 * the store's server certificate for `hosts` (the addresses and names it is reached at;
 * STORE_SERVER_NAME, 127.0.0.1 and localhost are added).
 */
export function ensureClusterSecret(dataDir: string, o: { hosts: string[] }): ClusterSecret {
  const ca = ensureCa(dataDir)
  const caDigest = certDigest(ca.cert)
  const joinToken = ensureJoinToken(dataDir, caDigest)
  const { secret } = parseJoinToken(joinToken, joinTokenPath(dataDir))
  const hosts = [
    ...new Set([
      STORE_SERVER_NAME,
      ...o.hosts.filter((h) => h && h !== '0.0.0.0' && h !== '::'),
      '127.0.0.1',
      'localhost',
    ]),
  ]
  const server = issueServerCert(ca, { commonName: 'weft store', hosts, days: SERVER_CERT_DAYS })
  return {
    token: secret,
    joinToken,
    caDigest,
    tls: { cert: server.cert + ca.cert, key: server.key, ca: ca.cert },
    joinCommand: (storeHostPort) =>
      `weft agent --store consul://${storeHostPort} --join-token ${joinToken}`,
    clientOptions: (url) => ({
      address: url,
      token: secret,
      tls: { ca: ca.cert, pinnedCaDigest: caDigest },
    }),
  }
}

/**
 * Client options for a store joined with a join token: https, the token's secret, and the CA
 * pinned by the token's digest. `store` is `consul://HOST:PORT`, `https://HOST:PORT` or
 * `HOST:PORT`; plain http:// is refused (the secret would cross the underlay in clear).
 */
export function clientOptionsFromJoinToken(joinToken: string, store: string): StoreClientOptions {
  const { caDigest, secret } = parseJoinToken(joinToken)
  if (/^http:\/\//i.test(store.trim())) {
    throw new ValidationError(
      `--store ${store} with --join-token: the embedded store speaks TLS only; use consul://HOST:PORT or https://HOST:PORT`,
    )
  }
  return { address: store, token: secret, tls: { pinnedCaDigest: caDigest } }
}

/**
 * The join token of a joining agent: the flag, else $WEFT_JOIN_TOKEN, else the one kept in
 * <data>/join-token by an earlier join (see saveJoinToken). Undefined when there is none.
 */
export function resolveJoinToken(o: {
  flag?: string
  env?: string
  dataDir: string
}): string | undefined {
  const given = o.flag ?? o.env
  if (given !== undefined)
    return formatJoinToken(
      parseJoinToken(given, o.flag !== undefined ? '--join-token' : '$WEFT_JOIN_TOKEN'),
    )
  const kept = readSecretFile(joinTokenPath(o.dataDir))
  return kept === undefined
    ? undefined
    : formatJoinToken(parseJoinToken(kept, joinTokenPath(o.dataDir)))
}

/** Keep a joining agent's token in <data>/join-token (0600), so a restart needs no flag. */
export function saveJoinToken(dataDir: string, joinToken: string): void {
  const token = formatJoinToken(parseJoinToken(joinToken))
  const kept = createSecretFile(joinTokenPath(dataDir), `${token}\n`).trim()
  if (kept !== token) {
    throw new ValidationError(
      `${joinTokenPath(dataDir)} holds another cluster's join token; remove it to join this one (or use another --data)`,
    )
  }
}

// --- internal ---

function ensureCa(dataDir: string): CaMaterial {
  const path = caPath(dataDir)
  let pem = readSecretFile(path)
  if (pem === undefined) {
    if (readSecretFile(joinTokenPath(dataDir)) !== undefined) {
      throw new Error(
        `${joinTokenPath(dataDir)} exists but ${path} does not: this data directory joined another host's store. ` +
          'An embedded store needs its own CA: use another --data, or remove the join token to start a new cluster here',
      )
    }
    const ca = createCa({ commonName: 'weft cluster CA', days: CA_DAYS })
    pem = createSecretFile(path, ca.cert + ca.key)
  }
  return splitCa(pem, path)
}

function splitCa(pem: string, path: string): CaMaterial {
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(pem)?.[0]
  const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/.exec(pem)?.[0]
  if (!cert || !key)
    throw new Error(
      `${path} must hold the CA certificate and its private key (PEM); it is damaged: restore it or remove it together with join-token`,
    )
  const x = new X509Certificate(cert)
  const samePublicKey = createPublicKey(key)
    .export({ type: 'spki', format: 'der' })
    .equals(x.publicKey.export({ type: 'spki', format: 'der' }))
  if (!x.ca || !samePublicKey)
    throw new Error(
      `${path}: the key does not belong to the CA certificate; restore the file or remove it together with join-token`,
    )
  return { cert: cert.endsWith('\n') ? cert : `${cert}\n`, key }
}

function ensureJoinToken(dataDir: string, caDigest: string): string {
  const path = joinTokenPath(dataDir)
  const text =
    readSecretFile(path) ??
    createSecretFile(path, `${formatJoinToken({ caDigest, secret: newSecret() })}\n`)
  const token = parseJoinToken(text, path)
  if (token.caDigest !== caDigest) {
    throw new Error(
      `${path} pins a CA other than ${caPath(dataDir)} (${token.caDigest.slice(0, 12)}… vs ${caDigest.slice(0, 12)}…): ` +
        'remove the join token to issue a new one for this CA (joined hosts then need the new token)',
    )
  }
  return formatJoinToken(token)
}
