// Learn the store's CA from its TLS handshake and accept it only if it is the one a join token
// pins (by SHA-256 of its DER). Nothing is sent but the handshake: no token, no request. The
// requests that follow verify the store's chain against this CA (see client/tls.ts).
import { connect, type PeerCertificate, type DetailedPeerCertificate } from 'node:tls'
import { ServerUnreachableError, StoreIdentityError } from '../client/errors.ts'
import { certDigest, derToPem } from './x509.ts'
import { STORE_SERVER_NAME } from './join-token.ts'

/** What a failed handshake of learnPinnedCa was doing (it sends nothing, so any request may go elsewhere). */
export const PIN_HANDSHAKE = 'TLS handshake to learn the pinned CA'

export async function learnPinnedCa(o: {
  host: string
  port: number
  caDigest: string
  timeoutMs: number
  signal?: AbortSignal
}): Promise<string> {
  const chain = await peerChain(o)
  const match = chain.find((raw) => certDigest(raw) === o.caDigest)
  if (!match) {
    throw new StoreIdentityError(
      `the store at ${o.host}:${o.port} is not the cluster's: its certificate chain (${chain.map((c) => certDigest(c).slice(0, 12)).join(', ') || 'empty'}) ` +
        `holds no CA with the digest the join token pins (${o.caDigest.slice(0, 12)}…); refusing to send it the token. ` +
        'Check --store points at the first agent, and that the join token is the current one (<data>/join-token there)',
    )
  }
  return derToPem(match)
}

/** DER of every certificate the server presents, leaf first (a self-signed root ends the walk). */
function peerChain(o: {
  host: string
  port: number
  timeoutMs: number
  signal?: AbortSignal
}): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const where = `${o.host}:${o.port}`
    const socket = connect({
      host: o.host,
      port: o.port,
      servername: STORE_SERVER_NAME,
      // Verification happens by digest below, then by the chain check of every request.
      rejectUnauthorized: false,
    })
    const fail = (e: Error) => {
      cleanup()
      reject(new ServerUnreachableError(`https://${where}`, PIN_HANDSHAKE, e.message, { cause: e }))
    }
    const onAbort = () => fail(new Error('aborted'))
    const timer = setTimeout(
      () => fail(new Error(`no handshake within ${o.timeoutMs} ms`)),
      o.timeoutMs,
    )
    const cleanup = () => {
      clearTimeout(timer)
      o.signal?.removeEventListener('abort', onAbort)
      socket.removeListener('error', fail)
      // destroy, not end: we only wanted the certificates, and a half-closed socket that the
      // server resets would raise an error nobody waits for.
      socket.destroy()
    }
    o.signal?.addEventListener('abort', onAbort, { once: true })
    socket.once('error', fail)
    socket.once('secureConnect', () => {
      const chain: Uint8Array[] = []
      let c: PeerCertificate | DetailedPeerCertificate | undefined = socket.getPeerCertificate(true)
      while (c && c.raw && chain.length < 10) {
        chain.push(new Uint8Array(c.raw))
        const next: DetailedPeerCertificate | undefined = (c as DetailedPeerCertificate)
          .issuerCertificate
        if (!next || next === c || (next.raw && Buffer.compare(next.raw, c.raw) === 0)) break
        c = next
      }
      cleanup()
      resolve(chain)
    })
  })
}
