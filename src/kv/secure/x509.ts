// Issue the embedded store's certificates: a cluster CA and the store's server certificate,
// ECDSA P-256 with SHA-256, built with node:crypto keys and a small DER writer.
//
// Design note (2026-12): Bun and node:crypto create keys and signatures but no X.509
// certificates. Rejected: node-forge (RSA only, pure-JS key generation, ~1.6 MB in the
// binary), @peculiar/x509 (six packages with reflect-metadata), shelling out to openssl (not
// on every target host). A certificate is one signed DER structure with a fixed shape; the
// ~150 lines here build it, node:crypto's X509Certificate parses and verifies it in the unit
// tests, and Bun's TLS (BoringSSL) verifies the chain in the integration tests.
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  X509Certificate,
  type KeyObject,
} from 'node:crypto'
import { isIP } from 'node:net'
import * as der from './der.ts'

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyId: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyId: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
}

export interface IssuedCert {
  /** PEM certificate. */
  cert: string
  /** PEM PKCS#8 private key. */
  key: string
}

export interface CaMaterial extends IssuedCert {}

const DAY_MS = 86_400_000
// Clocks of the hosts in a cluster disagree a little; a certificate valid from "now" would be
// refused by a host whose clock is behind.
const BACKDATE_MS = 3_600_000

/** A self-signed CA that may sign server certificates only (pathLen 0). */
export function createCa(o: { commonName: string; days: number; now?: Date }): CaMaterial {
  const { privateKey, publicKey } = newKeyPair()
  const name = distinguishedName(o.commonName)
  const keyId = keyIdentifier(publicKey)
  const cert = signCertificate({
    issuer: name,
    subject: name,
    subjectKey: publicKey,
    signer: privateKey,
    now: o.now ?? new Date(),
    days: o.days,
    extensions: [
      extension(OID.basicConstraints, true, der.sequence(der.boolean(true), der.smallInteger(0))),
      // digitalSignature | keyCertSign | cRLSign
      extension(OID.keyUsage, true, der.bitString(new Uint8Array([0x86]), 1)),
      extension(OID.subjectKeyId, false, der.octetString(keyId)),
    ],
  })
  return { cert, key: pemKey(privateKey) }
}

/** A server certificate for `hosts` (IP addresses and DNS names), signed by `ca`. */
export function issueServerCert(
  ca: CaMaterial,
  o: { commonName: string; hosts: string[]; days: number; now?: Date },
): IssuedCert {
  if (o.hosts.length === 0)
    throw new Error('a server certificate needs at least one host name or address')
  const caCert = new X509Certificate(ca.cert)
  const caKey = caCert.publicKey
  const { privateKey, publicKey } = newKeyPair()
  const altNames = o.hosts.map((h) => {
    const family = isIP(h)
    if (family === 4) return der.implicitPrimitive(7, new Uint8Array(h.split('.').map(Number)))
    if (family === 6) return der.implicitPrimitive(7, ipv6Bytes(h))
    return der.implicitPrimitive(2, new TextEncoder().encode(h))
  })
  const cert = signCertificate({
    issuer: caCert.raw.subarray(...subjectRange(caCert)),
    subject: distinguishedName(o.commonName),
    subjectKey: publicKey,
    signer: ca.key,
    now: o.now ?? new Date(),
    days: o.days,
    extensions: [
      extension(OID.basicConstraints, true, der.sequence()),
      // digitalSignature
      extension(OID.keyUsage, true, der.bitString(new Uint8Array([0x80]), 7)),
      extension(OID.extKeyUsage, false, der.sequence(der.oid(OID.serverAuth))),
      extension(OID.subjectAltName, false, der.sequence(...altNames)),
      extension(OID.subjectKeyId, false, der.octetString(keyIdentifier(publicKey))),
      extension(
        OID.authorityKeyId,
        false,
        der.sequence(der.implicitPrimitive(0, keyIdentifier(caKey))),
      ),
    ],
  })
  return { cert, key: pemKey(privateKey) }
}

/** SHA-256 of a certificate's DER, lowercase hex: what a join token pins. */
export function certDigest(certPemOrDer: string | Uint8Array): string {
  const raw =
    typeof certPemOrDer === 'string' ? new X509Certificate(certPemOrDer).raw : certPemOrDer
  return createHash('sha256').update(raw).digest('hex')
}

export function derToPem(raw: Uint8Array): string {
  const b64 = Buffer.from(raw).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`
}

// --- internal ---

function newKeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
}

const pemKey = (k: KeyObject) => k.export({ type: 'pkcs8', format: 'pem' }).toString()

function distinguishedName(commonName: string): Uint8Array {
  const rdn = (type: string, value: string) =>
    der.set(der.sequence(der.oid(type), der.utf8String(value)))
  return der.sequence(rdn(OID.organization, 'weft'), rdn(OID.commonName, commonName))
}

/** RFC 5280 4.2.1.2: any unique value; SHA-1 of the SubjectPublicKeyInfo is the usual one. */
const keyIdentifier = (k: KeyObject) =>
  new Uint8Array(
    createHash('sha1')
      .update(k.export({ type: 'spki', format: 'der' }))
      .digest(),
  )

const extension = (id: string, critical: boolean, value: Uint8Array) =>
  critical
    ? der.sequence(der.oid(id), der.boolean(true), der.octetString(value))
    : der.sequence(der.oid(id), der.octetString(value))

function signCertificate(o: {
  issuer: Uint8Array
  subject: Uint8Array
  subjectKey: KeyObject
  signer: KeyObject | string
  now: Date
  days: number
  extensions: Uint8Array[]
}): string {
  const algorithm = der.sequence(der.oid(OID.ecdsaWithSha256))
  const serial = randomBytes(16)
  serial[0]! &= 0x7f // positive, at most 20 octets (RFC 5280 4.1.2.2)
  const notBefore = new Date(o.now.getTime() - BACKDATE_MS)
  const notAfter = new Date(o.now.getTime() + o.days * DAY_MS)
  const tbs = der.sequence(
    der.explicit(0, der.smallInteger(2)), // v3
    der.unsignedInteger(serial),
    algorithm,
    o.issuer,
    der.sequence(der.time(notBefore), der.time(notAfter)),
    o.subject,
    new Uint8Array(o.subjectKey.export({ type: 'spki', format: 'der' })),
    der.explicit(3, der.sequence(...o.extensions)),
  )
  const key = typeof o.signer === 'string' ? createPrivateKey(o.signer) : o.signer
  const signature = sign('sha256', tbs, { key, dsaEncoding: 'der' })
  return derToPem(der.sequence(tbs, algorithm, der.bitString(new Uint8Array(signature))))
}

/** Byte range of the subject Name inside a certificate's DER (the issuer of what it signs). */
function subjectRange(cert: X509Certificate): [number, number] {
  // Certificate -> tbsCertificate -> [version, serial, sigAlg, issuer, validity, subject, ...]
  const raw = cert.raw
  let at = enter(raw, 0) // into Certificate
  at = enter(raw, at) // into tbsCertificate
  for (let i = 0; i < 5; i++) at = skip(raw, at)
  return [at, skip(raw, at)]
}

function header(raw: Uint8Array, at: number): { body: number; end: number } {
  const first = raw[at + 1]!
  if (first < 0x80) return { body: at + 2, end: at + 2 + first }
  const n = first & 0x7f
  let len = 0
  for (let i = 0; i < n; i++) len = len * 256 + raw[at + 2 + i]!
  return { body: at + 2 + n, end: at + 2 + n + len }
}
const enter = (raw: Uint8Array, at: number) => header(raw, at).body
const skip = (raw: Uint8Array, at: number) => header(raw, at).end

function ipv6Bytes(ip: string): Uint8Array {
  const [head, tail = ''] = ip.split('::')
  const groups = (s: string) => (s ? s.split(':') : [])
  const h = groups(head!)
  const t = groups(tail)
  const all = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h
  const out = new Uint8Array(16)
  all.forEach((g, i) => {
    const v = parseInt(g, 16)
    out[2 * i] = v >> 8
    out[2 * i + 1] = v & 0xff
  })
  return out
}
