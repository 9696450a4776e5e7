// What the agent's wiring calls to reach the cluster store, secure by default:
// - serveEmbeddedStore: the first agent serves the embedded store with the cluster secret (TLS,
//   token) and gets its own client options and the join command to print;
// - remoteStoreOptions: any other agent reaches a store it is given: the embedded store of
//   another host (join token), or a real Consul (ACL token, https with the system's CAs or a
//   CA file).
import { readFileSync } from 'node:fs'
import { ValidationError } from '../../errors/index.ts'
import { serveKv, type ServedKv } from '../server/index.ts'
import {
  clientOptionsFromJoinToken,
  ensureClusterSecret,
  type ClusterSecret,
  type StoreClientOptions,
} from './cluster-secret.ts'

export interface EmbeddedStoreOptions {
  /** The agent's data directory: the CA and the join token live here (see cluster-secret.ts). */
  dataDir: string
  /** The engine's libSQL file. */
  dbPath: string
  listen: { hostname: string; port: number }
  /** The host's underlay address: in the certificate, and where joiners reach a wildcard listener. */
  advertise: string
  nodeName: string
  sessionTtlMinMs?: number
  onBackgroundError?: (what: string, err: unknown) => void
}

export interface EmbeddedStore {
  served: ServedKv
  secret: ClusterSecret
  /** This host's own client of the store (https, token, the CA it holds). */
  clientOptions: StoreClientOptions
  /** `weft agent --store consul://ADDR:PORT --join-token …`, to print for the operator. */
  joinCommand: string
  stop(): Promise<void>
}

const WILDCARD = new Set(['0.0.0.0', '::', '[::]', ''])

export async function serveEmbeddedStore(o: EmbeddedStoreOptions): Promise<EmbeddedStore> {
  const reachableAt = WILDCARD.has(o.listen.hostname) ? o.advertise : o.listen.hostname
  const secret = ensureClusterSecret(o.dataDir, { hosts: [o.advertise, o.listen.hostname] })
  const served = await serveKv({
    dbPath: o.dbPath,
    hostname: o.listen.hostname,
    port: o.listen.port,
    nodeName: o.nodeName,
    advertise: `${reachableAt}:${o.listen.port}`,
    token: secret.token,
    tls: { cert: secret.tls.cert, key: secret.tls.key, ca: secret.tls.ca },
    sessionTtlMinMs: o.sessionTtlMinMs,
    onBackgroundError: o.onBackgroundError,
  })
  const hostPort = `${reachableAt.includes(':') ? `[${reachableAt}]` : reachableAt}:${served.port}`
  return {
    served,
    secret,
    // by the address joiners use too, so a listener on 0.0.0.0 is reached at a real address
    clientOptions: secret.clientOptions(`https://${hostPort}`),
    joinCommand: secret.joinCommand(hostPort),
    stop: () => served.stop(),
  }
}

export interface RemoteStoreInput {
  /** --store: consul://HOST:PORT[,HOST:PORT…], https://…, http://… */
  address: string
  /** --join-token / $WEFT_JOIN_TOKEN / <data>/join-token: another weft host's embedded store. */
  joinToken?: string
  /** --store-token: a real Consul's ACL token. */
  token?: string
  /** --store-ca: PEM file of the CA a real Consul's certificate is checked against. */
  caFile?: string
}

/** Client options for a store this agent does not serve, and warnings worth logging. */
export function remoteStoreOptions(i: RemoteStoreInput): {
  options: StoreClientOptions
  warnings: string[]
} {
  if (i.joinToken !== undefined) {
    if (i.token !== undefined || i.caFile !== undefined) {
      throw new ValidationError(
        '--join-token carries the store token and pins its CA: drop --store-token and --store-ca (those are for a real Consul)',
      )
    }
    return { options: clientOptionsFromJoinToken(i.joinToken, i.address), warnings: [] }
  }
  let ca: string | undefined
  if (i.caFile !== undefined) {
    try {
      ca = readFileSync(i.caFile, 'utf8')
    } catch (e) {
      throw new ValidationError(
        `--store-ca ${i.caFile}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)}); give a PEM file of the Consul servers' CA`,
      )
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----'))
      throw new ValidationError(`--store-ca ${i.caFile} holds no PEM certificate`)
  }
  const warnings: string[] = []
  const plain =
    /^http:\/\//i.test(i.address.trim()) || (!ca && !/^https:\/\//i.test(i.address.trim()))
  if (plain && i.token !== undefined) {
    warnings.push(
      `the store token is sent in clear to ${i.address}: anyone on the path can read it; use https:// (with --store-ca if its CA is private)`,
    )
  }
  if (plain && i.token === undefined) {
    warnings.push(
      `${i.address} is used without a token or TLS: anyone who can reach it can rewrite the cluster's state`,
    )
  }
  return { options: { address: i.address, token: i.token, tls: ca ? { ca } : undefined }, warnings }
}
