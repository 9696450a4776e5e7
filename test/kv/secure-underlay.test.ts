// The embedded store seen from the underlay (root: namespaces). h1 serves it as the first agent
// does; h2 is a host on the same underlay. A tcpdump on h1's underlay port (the bridge's veth to
// h1: frames forwarded between bridge ports never show on br0 itself) records everything.
// - a stranger on h2 without the secret can neither read nor write (and nothing changes);
// - with the join command h1 prints, h2 joins: it verifies the store and reads and writes;
// - the capture of that traffic holds neither the secret nor the data in clear, while the
//   same write to a plain-http store with the same token shows both (the capture works).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createTopology,
  mustRunIn,
  requireRoot,
  run,
  spawnIn,
  waitFor,
  type NsProcess,
  type Topology,
} from '../harness/index.ts'

const STORE_PORT = 8500
const CONTROL_PORT = 8501
const fixture = (name: string) => join(import.meta.dir, 'fixtures', name)
const bun = process.execPath

let topo: Topology
let dir: string
let server: NsProcess
let capture: NsProcess
let hello: { url: string; control: string; joinCommand: string }
const pcap = () => join(dir, 'underlay.pcap')

beforeAll(async () => {
  requireRoot()
  topo = await createTopology({ hosts: 2 })
  dir = mkdtempSync(join(tmpdir(), 'weft-kv-underlay-'))
  topo.track(() => rmSync(dir, { recursive: true, force: true }))
  capture = spawnIn(topo.underlayNs, [
    'tcpdump',
    '-i',
    'p1',
    '--immediate-mode',
    '-U',
    '-n',
    '-s',
    '0',
    '-w',
    pcap(),
    'tcp',
  ])
  topo.track(() => capture.stop())
  await waitFor(() => capture.stderr().includes('listening on p1'), {
    what: "tcpdump to listen on h1's underlay port",
    timeoutMs: 10_000,
  })
  const h1 = topo.hosts[0]!
  server = spawnIn(h1.ns, [
    bun,
    fixture('secure-store-host.ts'),
    join(dir, 'data'),
    h1.underlay.ip,
    String(STORE_PORT),
    String(CONTROL_PORT),
  ])
  topo.track(() => server.stop())
  const line = await waitFor(
    () =>
      server
        .stdout()
        .split('\n')
        .find((l) => l.startsWith('{')),
    {
      what: `the store on ${h1.ns} to listen (stderr: ${server.stderr()})`,
      timeoutMs: 15_000,
    },
  )
  hello = JSON.parse(line)
}, 60_000)

afterAll(async () => {
  await topo?.destroy()
})

async function probeFromH2(args: string[]): Promise<any> {
  const r = await mustRunIn(topo.hosts[1]!.ns, [bun, fixture('store-probe.ts'), ...args])
  return JSON.parse(r.stdout.trim().split('\n').pop()!)
}

/** The packets of one TCP port from the capture, as raw pcap bytes. */
async function capturedPort(port: number): Promise<{ bytes: Buffer; packets: number }> {
  const out = join(dir, `port-${port}.pcap`)
  const split = await run(['tcpdump', '-r', pcap(), '-w', out, `tcp port ${port}`])
  if (split.code !== 0) throw new Error(`tcpdump -r: ${split.stderr}`)
  const count = await run(['tcpdump', '-r', out, '-n'])
  return {
    bytes: readFileSync(out),
    packets: count.stdout.trim().split('\n').filter(Boolean).length,
  }
}

describe('the embedded store on the underlay', () => {
  const canary = `canary-${Math.random().toString(36).slice(2)}`

  test('prints the join command with the consul:// address and the join token', () => {
    expect(hello.url).toBe(`https://198.18.0.1:${STORE_PORT}`)
    expect(hello.joinCommand).toMatch(
      /^weft agent --store consul:\/\/198\.18\.0\.1:8500 --join-token WFTKN-1-[0-9a-f]{64}-[0-9a-f]{64}$/,
    )
  })

  test('a stranger on the underlay can neither read nor write the store', async () => {
    const statuses = await probeFromH2(['stranger', hello.url])
    expect(Object.keys(statuses)).toHaveLength(6)
    for (const [what, status] of Object.entries(statuses))
      expect({ what, status }).toEqual({ what, status: 403 })
  })

  test('with the printed join command another host joins, verifies the store and works; the stranger changed nothing', async () => {
    const [, store, token] = /--store (\S+) --join-token (\S+)$/.exec(hello.joinCommand)!
    const r = await probeFromH2(['join', store!, token!, canary])
    expect(r).toEqual({ endpointBefore: null, canary, leader: `198.18.0.1:${STORE_PORT}` })
  })

  test('a capture of the store traffic shows neither the secret nor the data in clear (and the capture would)', async () => {
    const token = /--join-token (\S+)$/.exec(hello.joinCommand)![1]!
    const secret = token.split('-').pop()!
    await probeFromH2(['control', hello.control, secret, canary])
    // the control write is the last traffic: once its answer is on file, so is everything before
    await waitFor(
      () =>
        readFileSync(pcap()).includes(`/v1/kv/weft/v1/probe/canary`) &&
        readFileSync(pcap()).includes('HTTP/1.1 200'),
      {
        what: 'the capture to hold the control write and its answer',
        timeoutMs: 10_000,
      },
    )
    await capture.stop()
    const tls = await capturedPort(STORE_PORT)
    const plain = await capturedPort(CONTROL_PORT)
    // positive control: the same kind of request without TLS carries both in clear
    expect(plain.bytes.includes(secret)).toBe(true)
    expect(plain.bytes.includes(canary)).toBe(true)
    expect(tls.packets).toBeGreaterThan(20)
    for (const needle of [secret, token, canary, 'X-Consul-Token', 'weft/v1/'])
      expect({ needle, found: tls.bytes.includes(needle) }).toEqual({ needle, found: false })
  })
})
