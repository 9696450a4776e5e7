// The cluster secret on disk and the certificates it issues: created once with safe modes,
// reused, refused when unsafe or inconsistent; certificates that node:crypto parses and
// verifies; join tokens parsed strictly.
import { afterAll, describe, expect, test } from 'bun:test'
import { X509Certificate } from 'node:crypto'
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  caPath,
  ensureClusterSecret,
  joinTokenPath,
  parseJoinToken,
  resolveJoinToken,
  saveJoinToken,
} from '../../src/kv/index.ts'
import * as der from '../../src/kv/secure/der.ts'
import { createSecretFile } from '../../src/kv/secure/secret-files.ts'
import { certDigest, createCa, issueServerCert } from '../../src/kv/secure/x509.ts'

const root = mkdtempSync(join(tmpdir(), 'weft-kv-secret-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let n = 0
const freshDir = () => join(root, `d${++n}`)
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

describe('DER writer', () => {
  test('encodes OIDs, lengths, integers and times as X.690 says', () => {
    expect(hex(der.oid('1.2.840.10045.4.3.2'))).toBe('06082a8648ce3d040302')
    expect(hex(der.oid('2.5.29.17'))).toBe('0603551d11')
    expect(hex(der.tlv(0x04, new Uint8Array(200))).slice(0, 6)).toBe('0481c8')
    expect(hex(der.tlv(0x04, new Uint8Array(300))).slice(0, 8)).toBe('0482012c')
    expect(hex(der.unsignedInteger(new Uint8Array([0x80])))).toBe('02020080')
    expect(hex(der.unsignedInteger(new Uint8Array([0, 0, 5])))).toBe('020105')
    expect(
      Buffer.from(der.time(new Date(Date.UTC(2049, 11, 31, 23, 59, 59)))).toString('latin1'),
    ).toBe('\x17\x0d491231235959Z')
    expect(Buffer.from(der.time(new Date(Date.UTC(2050, 0, 1)))).toString('latin1')).toBe(
      '\x18\x0f20500101000000Z',
    )
  })
})

describe('certificates', () => {
  test('a CA and a server certificate that node:crypto verifies, with the hosts asked for', () => {
    const ca = createCa({ commonName: 'weft cluster CA', days: 3650 })
    const srv = issueServerCert(ca, {
      commonName: 'weft store',
      hosts: ['198.18.0.1', 'h1.example', '::1'],
      days: 365,
    })
    const c = new X509Certificate(ca.cert)
    const s = new X509Certificate(srv.cert)
    expect(c.ca).toBe(true)
    expect(c.verify(c.publicKey)).toBe(true)
    expect(s.ca).toBe(false)
    expect(s.verify(c.publicKey)).toBe(true)
    expect(s.checkIssued(c)).toBe(true)
    expect(s.checkIP('198.18.0.1')).toBe('198.18.0.1')
    expect(s.checkHost('h1.example')).toBe('h1.example')
    expect(s.checkIP('198.18.0.2')).toBeUndefined()
    expect(s.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1'])
    expect(new Date(s.validFrom).getTime()).toBeLessThan(Date.now())
    // another CA's certificate does not verify against this one
    const other = new X509Certificate(createCa({ commonName: 'weft cluster CA', days: 1 }).cert)
    expect(s.verify(other.publicKey)).toBe(false)
    expect(certDigest(ca.cert)).toBe(c.fingerprint256.replaceAll(':', '').toLowerCase())
  })
})

describe('ensureClusterSecret', () => {
  test('creates the CA and the join token once (0600) and reuses them', () => {
    const d = freshDir()
    const a = ensureClusterSecret(d, { hosts: ['198.18.0.1'] })
    for (const p of [joinTokenPath(d), caPath(d)]) expect(statSync(p).mode & 0o777).toBe(0o600)
    expect(readFileSync(joinTokenPath(d), 'utf8').trim()).toBe(a.joinToken)
    expect(a.joinToken).toMatch(/^WFTKN-1-[0-9a-f]{64}-[0-9a-f]{64}$/)
    expect(parseJoinToken(a.joinToken)).toEqual({ caDigest: a.caDigest, secret: a.token })
    expect(a.joinCommand('198.18.0.1:8500')).toBe(
      `weft agent --store consul://198.18.0.1:8500 --join-token ${a.joinToken}`,
    )
    const b = ensureClusterSecret(d, { hosts: ['198.18.0.1'] })
    expect(b.joinToken).toBe(a.joinToken)
    expect(b.tls.ca).toBe(a.tls.ca)
    // the server certificate is issued per start, for the hosts given, and never stored
    expect(b.tls.cert).not.toBe(a.tls.cert)
    const leaf = new X509Certificate(b.tls.cert)
    expect(leaf.checkIP('198.18.0.1')).toBe('198.18.0.1')
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1')
    expect(leaf.checkHost('weft-store')).toBe('weft-store') // the name joiners verify it by
    expect(leaf.verify(new X509Certificate(a.tls.ca).publicKey)).toBe(true)
  })

  test('a secret file is never replaced: a second creator gets the first one', () => {
    const path = join(freshDir(), 'secret')
    expect(createSecretFile(path, 'first')).toBe('first')
    expect(createSecretFile(path, 'second')).toBe('first')
    expect(statSync(path).mode & 0o777).toBe(0o600)
  })

  test('refuses secret files another user could read or plant', () => {
    const d = freshDir()
    ensureClusterSecret(d, { hosts: [] })
    chmodSync(joinTokenPath(d), 0o644)
    expect(() => ensureClusterSecret(d, { hosts: [] })).toThrow(
      /readable or writable by other users \(mode 0644\); run chmod 600/,
    )
    chmodSync(joinTokenPath(d), 0o600)
    chmodSync(caPath(d), 0o640)
    expect(() => ensureClusterSecret(d, { hosts: [] })).toThrow(/chmod 600/)
    const e = freshDir()
    mkdirSync(e)
    writeFileSync(join(e, 'elsewhere'), 'x', { mode: 0o600 })
    symlinkSync(join(e, 'elsewhere'), caPath(e))
    expect(() => ensureClusterSecret(e, { hosts: [] })).toThrow(/not a regular file/)
  })

  test('a join token that pins another CA, or a token without the CA, is refused with what to do', () => {
    const d = freshDir()
    ensureClusterSecret(d, { hosts: [] })
    rmSync(caPath(d))
    expect(() => ensureClusterSecret(d, { hosts: [] })).toThrow(/joined another host's store/)
    const e = freshDir()
    const first = ensureClusterSecret(e, { hosts: [] })
    rmSync(joinTokenPath(e))
    const other = ensureClusterSecret(freshDir(), { hosts: [] })
    writeFileSync(joinTokenPath(e), other.joinToken, { mode: 0o600 })
    expect(() => ensureClusterSecret(e, { hosts: [] })).toThrow(/pins a CA other than/)
    // removing the join token issues a new secret for the same CA (rotation)
    rmSync(joinTokenPath(e))
    const rotated = ensureClusterSecret(e, { hosts: [] })
    expect(rotated.caDigest).toBe(first.caDigest)
    expect(rotated.token).not.toBe(first.token)
  })
})

describe('join tokens', () => {
  const token = `WFTKN-1-${'a'.repeat(64)}-${'b'.repeat(64)}`
  test('parse strictly, without echoing a secret back', () => {
    expect(parseJoinToken(` ${token}\n`)).toEqual({
      caDigest: 'a'.repeat(64),
      secret: 'b'.repeat(64),
    })
    for (const bad of [
      '',
      'SWMTKN-1-abc-def',
      token.slice(0, -2),
      `${token}x`,
      token.toUpperCase(),
    ]) {
      const e = (() => {
        try {
          parseJoinToken(bad)
        } catch (x) {
          return x as Error
        }
      })()
      expect(e?.message).toContain('is not a weft join token')
      expect(e?.message).not.toContain('b'.repeat(20))
    }
  })

  test('resolveJoinToken: flag, then $WEFT_JOIN_TOKEN, then the one kept by saveJoinToken', () => {
    const d = freshDir()
    const other = `WFTKN-1-${'c'.repeat(64)}-${'d'.repeat(64)}`
    expect(resolveJoinToken({ dataDir: d })).toBeUndefined()
    expect(resolveJoinToken({ flag: token, env: other, dataDir: d })).toBe(token)
    expect(resolveJoinToken({ env: other, dataDir: d })).toBe(other)
    expect(() => resolveJoinToken({ env: 'nope', dataDir: d })).toThrow(/\$WEFT_JOIN_TOKEN/)
    saveJoinToken(d, token)
    expect(statSync(joinTokenPath(d)).mode & 0o777).toBe(0o600)
    expect(resolveJoinToken({ dataDir: d })).toBe(token)
    saveJoinToken(d, token) // the same token again is fine
    expect(() => saveJoinToken(d, other)).toThrow(/another cluster's join token/)
    // a host that joined cannot also serve an embedded store from the same data directory
    expect(() => ensureClusterSecret(d, { hosts: [] })).toThrow(/joined another host's store/)
  })
})
