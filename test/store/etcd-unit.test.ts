// The pure parts of the etcd store (no etcd, no root): store ops as etcd txns and back, the
// prefix range end, and --store etcd:// parsing.
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAgentConfig } from '../../src/agent/config.ts'
import { fromEtcdTxn, parseEtcdUrl, prefixEnd, toEtcdTxn } from '../../src/store/etcd/index.ts'
import type { StoreOp } from '../../src/store/index.ts'

const b = (s: string) => Buffer.from(s).toString('base64')

describe('toEtcdTxn / fromEtcdTxn', () => {
  const ops: StoreOp[] = [
    { op: 'put', key: 'a', value: 'A' },
    { op: 'put', key: 'b', value: 'B', ifRevision: 0n },
    { op: 'delete', key: 'c', ifRevision: 7n },
    { op: 'delete-prefix', prefix: 'p/' },
    { op: 'check', key: 'd', revision: 3n },
  ]

  test('conditions are mod_revision compares; the failure branch reads the compared keys', () => {
    const t = toEtcdTxn(ops)
    expect(t.compare).toEqual([
      { key: b('b'), target: 'MOD', result: 'EQUAL', mod_revision: '0' },
      { key: b('c'), target: 'MOD', result: 'EQUAL', mod_revision: '7' },
      { key: b('d'), target: 'MOD', result: 'EQUAL', mod_revision: '3' },
    ])
    expect(t.success).toEqual([
      { request_put: { key: b('a'), value: b('A') } },
      { request_put: { key: b('b'), value: b('B') } },
      { request_delete_range: { key: b('c') } },
      { request_delete_range: { key: b('p/'), range_end: b('p0') } },
    ])
    expect(t.failure).toEqual([
      { request_range: { key: b('b') } },
      { request_range: { key: b('c') } },
      { request_range: { key: b('d') } },
    ])
  })

  test('a committed txn wrote every put at its revision', () => {
    expect(fromEtcdTxn(ops, { header: { revision: '42' }, succeeded: true })).toEqual({
      ok: true,
      written: [
        { key: 'a', value: 'A', modifyIndex: 42n },
        { key: 'b', value: 'B', modifyIndex: 42n },
      ],
    })
  })

  test('a failed txn names exactly the ops whose keys are not at the compared revision', () => {
    // b exists now (created at 9), c is still at 7, d is absent
    const reply = {
      header: { revision: '50' },
      responses: [
        { response_range: { kvs: [{ key: b('b'), mod_revision: '9' }] } },
        { response_range: { kvs: [{ key: b('c'), mod_revision: '7' }] } },
        { response_range: {} },
      ],
    }
    expect(fromEtcdTxn(ops, reply)).toEqual({ ok: false, failed: [1, 4] })
  })
})

describe('prefixEnd', () => {
  test('the range end is the prefix with its last byte incremented (in UTF-8)', () => {
    expect(prefixEnd('weft/v1/')).toBe(b('weft/v10'))
    expect(Buffer.from(prefixEnd('é'), 'base64')).toEqual(Buffer.from([0xc3, 0xaa]))
  })
})

describe('parseEtcdUrl', () => {
  test('one or more members, etcds:// for TLS', () => {
    expect(parseEtcdUrl('etcd://10.0.0.1:2379')).toEqual({
      endpoints: ['http://10.0.0.1:2379'],
      tls: false,
    })
    expect(parseEtcdUrl('etcds://a:2379,b:2379')).toEqual({
      endpoints: ['https://a:2379', 'https://b:2379'],
      tls: true,
    })
  })
  test('bad members are refused with what to write', () => {
    expect(() => parseEtcdUrl('etcd://')).toThrow(/HOST:PORT/)
    expect(() => parseEtcdUrl('etcd://a:2379,b')).toThrow(/"b" must be HOST:PORT/)
    expect(() => parseEtcdUrl('etcd://a:99999')).toThrow(/HOST:PORT/)
    expect(() => parseEtcdUrl('etcd://a:1,a:1')).toThrow(/twice/)
    expect(() => parseEtcdUrl('http://a:1')).toThrow(/etcd:\/\//)
  })
})

describe('--store etcds:// with --store-ca, --store-cert, --store-key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-etcd-tls-'))
  const pem = (name: string) => {
    const p = join(dir, name)
    writeFileSync(p, `-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n`)
    return p
  }
  const parse = (f: Record<string, string>) =>
    parseAgentConfig({ advertise: '192.0.2.10', name: 'n1', ...f }, {})
  const refused = async (f: Record<string, string>) => {
    const e = await parse(f).then(
      () => undefined,
      (x: Error) => x,
    )
    if (!e) throw new Error(`accepted ${JSON.stringify(f)}`)
    return e.message
  }

  test('the PEM files are read at start into the store config', async () => {
    const c = await parse({
      store: 'etcds://192.0.2.1:2379',
      'store-ca': pem('ca.pem'),
      'store-cert': pem('c.pem'),
      'store-key': pem('k.pem'),
    })
    expect(c.store).toMatchObject({ kind: 'etcd', endpoints: ['https://192.0.2.1:2379'] })
    expect(c.store.kind === 'etcd' && c.store.tls?.ca).toStartWith('-----BEGIN CERTIFICATE-----')
    expect((await parse({ store: 'etcds://192.0.2.1:2379' })).store).toEqual({
      kind: 'etcd',
      address: 'etcds://192.0.2.1:2379',
      endpoints: ['https://192.0.2.1:2379'],
    })
  })

  test('TLS flags without etcds://, half a client certificate, unreadable or non-PEM files are refused', async () => {
    expect(await refused({ store: 'etcd://192.0.2.1:2379', 'store-ca': pem('ca.pem') })).toBe(
      '--store-ca needs TLS: write --store etcds://192.0.2.1:2379',
    )
    expect(
      await refused({ store: 'consul://192.0.2.1:8500', 'store-cert': pem('c.pem') }),
    ).toContain('--store-cert is for an etcd store over TLS')
    expect(
      await refused({ store: 'etcds://192.0.2.1:2379', 'store-cert': pem('c.pem') }),
    ).toContain('--store-cert and --store-key go together')
    expect(
      await refused({ store: 'etcds://192.0.2.1:2379', 'store-ca': join(dir, 'missing.pem') }),
    ).toMatch(/--store-ca .*missing\.pem: cannot read it \(ENOENT\)/)
    writeFileSync(join(dir, 'junk'), 'not a certificate')
    expect(
      await refused({ store: 'etcds://192.0.2.1:2379', 'store-ca': join(dir, 'junk') }),
    ).toContain('not a PEM file')
  })

  afterAll(() => rmSync(dir, { recursive: true, force: true }))
})
