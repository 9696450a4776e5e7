// How the client verifies an https:// store: the system's CAs (a real Consul with a public
// certificate), a CA file (--store-ca), or the CA a join token pins (the embedded store).
import { learnPinnedCa } from '../secure/ca-pin.ts'
import { certDigest } from '../secure/x509.ts'
import { STORE_SERVER_NAME } from '../secure/join-token.ts'

export interface StoreTlsOptions {
  /** PEM CA certificate(s) to trust instead of the system's, e.g. the contents of --store-ca. */
  ca?: string | string[]
  /**
   * SHA-256 (hex) of the store CA's DER, from a join token: the CA is learnt from the store's
   * handshake, accepted only if it has this digest, and then every request verifies against it
   * (with `ca` too: that CA, which must have this digest).
   */
  pinnedCaDigest?: string
}

/** Bun's fetch `tls` option (the subset we use). */
export interface FetchTls {
  ca?: string | string[]
  /** The name the certificate is verified against instead of the URL's host. */
  serverName?: string
}

export class TlsPolicy {
  private pinnedCa: Promise<string> | undefined

  constructor(private readonly o: StoreTlsOptions = {}) {
    if (o.ca !== undefined && o.pinnedCaDigest !== undefined) {
      // Both: the caller holds the CA itself (the host serving the store); it must be the pinned one.
      const cas = Array.isArray(o.ca) ? o.ca : [o.ca]
      if (cas.length !== 1 || certDigest(cas[0]!) !== o.pinnedCaDigest)
        throw new Error('the given store CA is not the one the digest pins')
      this.pinnedCa = Promise.resolve(cas[0]!)
    }
  }

  /** The store must be spoken to over TLS (a CA was given or pinned). */
  get required(): boolean {
    return !!(this.o.ca || this.o.pinnedCaDigest)
  }

  /** What the store's certificate is checked against, for error messages. */
  get trustedWhat(): string {
    if (this.o.pinnedCaDigest)
      return `the cluster CA the join token pins (${this.o.pinnedCaDigest.slice(0, 12)}…)`
    if (this.o.ca) return 'the given CA (--store-ca)'
    return "the system's CAs"
  }

  /** The fetch `tls` option for a request to `url` (undefined: Bun's defaults, system CAs). */
  async forFetch(
    url: URL,
    o: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<FetchTls | undefined> {
    if (url.protocol !== 'https:') return undefined
    const digest = this.o.pinnedCaDigest
    if (!digest) return this.o.ca ? { ca: this.o.ca } : undefined
    // One handshake serves concurrent first requests; a failed one is forgotten and retried.
    this.pinnedCa ??= learnPinnedCa({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 443),
      caDigest: digest,
      timeoutMs: o.timeoutMs,
      signal: o.signal,
    })
    let ca: string
    try {
      ca = await this.pinnedCa
    } catch (e) {
      this.pinnedCa = undefined
      throw e
    }
    // Verified against the pinned CA and by the name only that CA issues, not by the URL's host:
    // joiners may reach the store at addresses (NAT, DNS) its certificate could not list.
    // (Not a checkServerIdentity callback: with one, Bun opens a new connection per request.)
    return { ca, serverName: STORE_SERVER_NAME }
  }
}
