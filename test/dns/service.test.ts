// The names service in this process over a cluster view the test changes, with real
// namespaces (root): listeners open and close as the view gains and loses the sandbox, follow
// a namespace replaced under the same name, and answer from each new view at once.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { clusterView, keys } from '../../src/cluster/index.ts'
import { startNames, type Names } from '../../src/dns/index.ts'
import { createLogger } from '../../src/log.ts'
import { newPrefix, requireRoot, run, waitFor } from '../harness/index.ts'
import { dnsClientIn } from './client.ts'

const id = (n: number) => n.toString(16).padStart(64, '0')
const NET = id(1)
const network = {
  id: NET,
  name: 'svc',
  driver: 'overlay',
  scope: 'global',
  vni: 300,
  subnet: '10.43.0.0/24',
  gateway: '10.43.0.1',
  mtu: 1450,
  labels: {},
  options: {},
  created: 'x',
}
const endpoint = (n: number, name: string, ip: string, node: string) => ({
  id: id(n),
  networkId: NET,
  name,
  ip,
  mac: '02:42:00:00:00:00',
  node,
  sandbox: name,
  ifname: 'eth0',
  external: false,
  created: `t${n}`,
})
const viewOf = (eps: ReturnType<typeof endpoint>[]) =>
  clusterView([
    { key: keys.network(NET), value: JSON.stringify(network) },
    ...eps.flatMap((e) => [
      { key: keys.endpoint(NET, e.id), value: JSON.stringify(e) },
      { key: keys.ipam(NET, e.ip), value: e.id },
    ]),
  ])

describe('names service (in process, real namespaces)', () => {
  const prefix = newPrefix()
  const ns = `${prefix}-dsvc`
  const etc = mkdtempSync(join(tmpdir(), 'weft-dns-etc-'))
  const resolvConf = join(etc, 'no-upstream.conf') // absent: nothing is ever forwarded out
  let view = viewOf([])
  let names: Names

  beforeAll(async () => {
    requireRoot()
    expect((await run(['ip', 'netns', 'add', ns])).code).toBe(0)
    names = startNames({
      node: 'me',
      view: () => view,
      resolvConf,
      log: createLogger({ level: 'silent', name: 't' }),
      etcNetns: etc,
    })
  })

  afterAll(async () => {
    names?.stop()
    await run(['ip', 'netns', 'del', ns])
    rmSync(etc, { recursive: true, force: true })
  })

  const ask = async (name: string) => {
    const c = await dnsClientIn(`/run/netns/${ns}`)
    try {
      return await c.query(name, undefined, 300)
    } finally {
      c.close()
    }
  }

  test('no endpoint in the view: nothing listens in the sandbox', async () => {
    names.sync()
    // its lo is still down (a fresh `ip netns add`), so the query cannot even be sent
    expect((await ask('peer')).rcode).toBe('unsent (ENETUNREACH)')
  })

  test('its first endpoint opens the resolver (lo brought up) and answers from the current view', async () => {
    view = viewOf([endpoint(2, ns, '10.43.0.2', 'me'), endpoint(3, 'peer', '10.43.0.3', 'other')])
    names.sync()
    expect(await ask('peer')).toMatchObject({ rcode: 'NOERROR', data: ['10.43.0.3'] })
    view = viewOf([endpoint(2, ns, '10.43.0.2', 'me')]) // the peer left: no sync needed to stop answering it
    expect((await ask('peer')).rcode).toBe('NXDOMAIN')
    expect(names.stats()).toMatchObject({ sandboxes: 1, listenErrors: 0 })
  })

  test('a namespace replaced under the same name gets a new resolver', async () => {
    expect((await run(['ip', 'netns', 'del', ns])).code).toBe(0)
    expect((await run(['ip', 'netns', 'add', ns])).code).toBe(0)
    await waitFor(async () => (await ask(ns)).rcode === 'NOERROR', {
      what: 'the resolver in the new namespace',
      timeoutMs: 3000,
    })
  })

  test('its last endpoint leaving the view closes the resolver', async () => {
    view = viewOf([])
    names.sync()
    expect(names.stats().sandboxes).toBe(0)
    expect((await ask(ns)).rcode).toBe('timeout')
  })
})
