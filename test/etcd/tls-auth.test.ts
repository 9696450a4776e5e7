// etcds:// and etcd user auth against real etcd members in a namespace: one serves TLS and
// requires client certificates (made here with openssl), one is plain (for users). The store
// client runs in that namespace (test/etcd/tls-auth-in-netns.ts), and so do real agents
// (dist/weft) on --store etcds:// with --store-ca/--store-cert/--store-key, and on
// --store-token-file USER:PASSWORD. The members listen on the namespace's loopback only.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startAgents } from '../agent/agents.ts'
import {
  createTopology,
  leaks,
  requireEtcd,
  run,
  runIn,
  spawnIn,
  waitFor,
  type NsProcess,
  type Topology,
} from '../harness/index.ts'

const ROOT = join(import.meta.dir, '..', '..')
const PORT = 23790
let topo: Topology
let dir: string
let etcd: NsProcess
let plain: NsProcess
const PLAIN_URL = 'http://127.0.0.1:23791'

async function openssl(args: string[]): Promise<void> {
  const r = await run(['openssl', ...args])
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr.trim()}`)
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all ECDSA P-256. */
async function makeCertificates(d: string): Promise<void> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  await openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    join(d, 'ca.key'),
    '-out',
    join(d, 'ca.pem'),
    '-days',
    '1',
    '-subj',
    '/CN=weft-test-ca',
  ])
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n'],
    ['client', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    writeFileSync(join(d, `${name}.ext`), ext)
    await openssl([
      'req',
      ...ec,
      '-keyout',
      join(d, `${name}.key`),
      '-out',
      join(d, `${name}.csr`),
      '-subj',
      `/CN=weft-${name}`,
    ])
    await openssl([
      'x509',
      '-req',
      '-in',
      join(d, `${name}.csr`),
      '-CA',
      join(d, 'ca.pem'),
      '-CAkey',
      join(d, 'ca.key'),
      '-CAcreateserial',
      '-out',
      join(d, `${name}.pem`),
      '-days',
      '1',
      '-extfile',
      join(d, `${name}.ext`),
    ])
  }
}

beforeAll(async () => {
  requireEtcd()
  topo = await createTopology({ hosts: 1 })
  dir = mkdtempSync(`/tmp/we-tls-${topo.prefix}-`)
  topo.track(() => rmSync(dir, { recursive: true, force: true }))
  await makeCertificates(dir)
  const url = `https://127.0.0.1:${PORT}`
  etcd = spawnIn(topo.hosts[0]!.ns, [
    '/usr/bin/etcd',
    '--name',
    'tls1',
    '--data-dir',
    join(dir, 'data'),
    '--listen-client-urls',
    url,
    '--advertise-client-urls',
    url,
    '--listen-peer-urls',
    'http://127.0.0.1:23800',
    '--initial-advertise-peer-urls',
    'http://127.0.0.1:23800',
    '--initial-cluster',
    'tls1=http://127.0.0.1:23800',
    '--cert-file',
    join(dir, 'server.pem'),
    '--key-file',
    join(dir, 'server.key'),
    '--trusted-ca-file',
    join(dir, 'ca.pem'),
    '--client-cert-auth',
    '--logger',
    'zap',
    '--log-outputs',
    'stderr',
  ])
  topo.track(() => etcd.stop(5000))
  // a plain member for user/password auth (etcd's gateway takes no users together with client certificates)
  plain = spawnIn(topo.hosts[0]!.ns, [
    '/usr/bin/etcd',
    '--name',
    'plain1',
    '--data-dir',
    join(dir, 'plain'),
    '--listen-client-urls',
    PLAIN_URL,
    '--advertise-client-urls',
    PLAIN_URL,
    '--listen-peer-urls',
    'http://127.0.0.1:23801',
    '--initial-advertise-peer-urls',
    'http://127.0.0.1:23801',
    '--initial-cluster',
    'plain1=http://127.0.0.1:23801',
    '--logger',
    'zap',
    '--log-outputs',
    'stderr',
  ])
  topo.track(() => plain.stop(5000))
  const curlTls = [
    '--cacert',
    join(dir, 'ca.pem'),
    '--cert',
    join(dir, 'client.pem'),
    '--key',
    join(dir, 'client.key'),
  ]
  await waitFor(
    async () => {
      if (await Promise.race([etcd.exited.then(() => true), Bun.sleep(0).then(() => false)]))
        throw new Error(`etcd exited: ${etcd.stderr().slice(-500)}`)
      const r = await runIn(topo.hosts[0]!.ns, [
        'curl',
        '-sS',
        '--max-time',
        '2',
        ...curlTls,
        `${url}/health`,
      ])
      return r.code === 0 && JSON.parse(r.stdout).health === 'true'
    },
    { what: 'the TLS etcd member healthy', timeoutMs: 30_000, intervalMs: 100 },
  )
  await waitFor(
    async () => {
      const r = await runIn(topo.hosts[0]!.ns, [
        'curl',
        '-sS',
        '--max-time',
        '2',
        `${PLAIN_URL}/health`,
      ])
      return r.code === 0 && JSON.parse(r.stdout).health === 'true'
    },
    { what: 'the plain etcd member healthy', timeoutMs: 30_000, intervalMs: 100 },
  )
}, 60_000)

afterAll(async () => {
  const prefix = topo.prefix
  await topo.destroy()
  expect(await leaks(prefix)).toEqual([])
}, 60_000)

test('an agent on --store etcds://… with --store-ca, --store-cert and --store-key registers and writes', async () => {
  const [a] = await startAgents(topo, {
    store: `etcds://127.0.0.1:${PORT}`,
    extraArgs: [
      '--store-ca',
      join(dir, 'ca.pem'),
      '--store-cert',
      join(dir, 'client.pem'),
      '--store-key',
      join(dir, 'client.key'),
    ],
  })
  try {
    expect(
      (await a!.api('POST', '/v1/networks', { name: 'over-tls', subnet: '10.60.0.0/24' })).status,
    ).toBe(201)
    expect((await a!.api('GET', '/healthz')).status).toBe(200)
  } finally {
    await a!.proc.stop(5000)
  }
}, 60_000)

test('etcds:// with --store-ca and a client certificate, and etcd user auth, against a real etcd (run in its namespace)', async () => {
  const child = spawnIn(
    topo.hosts[0]!.ns,
    [process.execPath, 'test', '--timeout', '60000', join(ROOT, 'test/etcd/tls-auth-in-netns.ts')],
    {
      env: {
        WEFT_TEST_ETCD: `https://127.0.0.1:${PORT}`,
        WEFT_TEST_ETCD_PLAIN: PLAIN_URL,
        WEFT_TEST_ETCD_TLS_DIR: dir,
      },
    },
  )
  topo.track(() => child.stop())
  const code = await child.exited
  const out = child.stderr()
  console.log(
    out
      .split('\n')
      .filter((l) => /^\((pass|fail)\)| pass$| fail$/.test(l))
      .join('\n'),
  )
  if (code !== 0) throw new Error(`the TLS run exited ${code}:\n${out.slice(-6000)}`)
  expect(out).toMatch(/\b0 fail\b/)
  expect(out).toMatch(/\b4 pass\b/)
}, 120_000)

test('an agent on an auth-enabled etcd with --store-token-file USER:PASSWORD registers and writes', async () => {
  // the run above enabled auth on the plain member (user root)
  writeFileSync(join(dir, 'etcd-token'), 'root:root-pw\n', { mode: 0o600 })
  const [a] = await startAgents(topo, {
    store: `etcd://${PLAIN_URL.replace('http://', '')}`,
    extraArgs: ['--store-token-file', join(dir, 'etcd-token')],
  })
  try {
    expect(
      (await a!.api('POST', '/v1/networks', { name: 'with-auth', subnet: '10.61.0.0/24' })).status,
    ).toBe(201)
    expect((await a!.api('GET', '/healthz')).status).toBe(200)
  } finally {
    await a!.proc.stop(5000)
  }
}, 60_000)
