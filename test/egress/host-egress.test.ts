// HostEgress's bookkeeping with a fake kernel (root-free): a new process adopts the published
// ports it finds and writes the table only once it knows the cluster's subnets (no window
// without NAT or published ports after a restart), ports are checked per host, and endpoints
// and networks that go take their ports along.
import { describe, expect, test } from 'bun:test'
import {
  HostEgress,
  type EgressKernel,
  type PublishedCounters,
  type TableState,
} from '../../src/egress/index.ts'
import { ConflictError, ValidationError } from '../../src/errors/index.ts'

function fakeKernel(held: PublishedCounters[] = [], forwarding = { on: true }) {
  const applied: TableState[] = []
  const plumbed: string[] = []
  const k: EgressKernel = {
    assertNft: async () => {},
    enableForwarding: () => !forwarding.on && (forwarding.on = true),
    disableForwarding: () => void (forwarding.on = false),
    readPublished: async () => held,
    applyTable: async (s) => void applied.push(structuredClone(s)),
    removeTable: async () => false,
    plumbWayOut: (p) => void plumbed.push(`${p.hostIfname} ${p.ip} via ${p.gateway}`),
    localAddresses: () => ['127.0.0.1', '198.18.0.1'],
  }
  return { k, applied, plumbed }
}

const web = { proto: 'tcp' as const, hostPort: 8080, containerPort: 80 }
const ep = (ip: string, vni = 256, publish = [web]) => ({
  vni,
  ip,
  mac: '02:42:0a:00:01:05',
  hostIfname: 'wf0000000001',
  hostIfindex: 9,
  sandboxPath: '/run/netns/c1',
  ifname: 'eth0',
  peerIfindex: 2,
  gateway: '10.0.1.1',
  mtu: 1450,
  publish,
})
const SUBNETS = [
  { vni: 256, subnet: '10.0.1.0/24', internal: false },
  { vni: 257, subnet: '10.0.2.0/24', internal: true },
]

describe('HostEgress', () => {
  test('teardown turns IPv4 forwarding off only when this process turned it on', async () => {
    const off = { on: false }
    const first = new HostEgress(fakeKernel([], off).k)
    await first.start()
    expect(off.on).toBe(true)
    await first.teardown() // a first start that failed: the host as it was found
    expect(off.on).toBe(false)
    const on = { on: true }
    const later = new HostEgress(fakeKernel([], on).k)
    await later.start()
    await later.teardown() // it was on before this process: not ours to turn off
    expect(on.on).toBe(true)
  })

  test('a restarted host adopts the ports it finds and writes nothing before it knows the subnets', async () => {
    const held: PublishedCounters = {
      vni: 256,
      ip: '10.0.1.5',
      port: web,
      ports: [web],
      connections: 4n,
      packets: 40n,
      bytes: 4000n,
    }
    const f = fakeKernel([held])
    const e = new HostEgress(f.k)
    await e.start()
    await e.attach(ep('10.0.1.6', 256, [])) // an endpoint without ports, before the first setSubnets
    expect(f.applied).toEqual([])
    await e.setSubnets(SUBNETS)
    expect(f.applied).toEqual([
      {
        natSources: ['10.0.1.0/24'],
        weftSubnets: ['10.0.1.0/24', '10.0.2.0/24'],
        publications: [{ vni: 256, ip: '10.0.1.5', ports: [web] }],
      },
    ])
    // the adopted publication holds its host port against another endpoint
    expect(() => e.checkPorts(256, '10.0.1.7', [web])).toThrow(ConflictError)
  })

  test('ports are checked per host: taken (409), twice in one endpoint or a foreign HOST_IP (400)', async () => {
    const f = fakeKernel()
    const e = new HostEgress(f.k)
    await e.start()
    await e.setSubnets(SUBNETS)
    await e.attach(ep('10.0.1.5'))
    expect(f.plumbed).toEqual(['wf0000000001 10.0.1.5 via 10.0.1.1'])
    expect(() => e.checkPorts(256, '10.0.1.6', [{ ...web, containerPort: 81 }])).toThrow(
      /tcp\/8080 is already published on this host/,
    )
    expect(() => e.checkPorts(256, '10.0.1.6', [{ ...web, proto: 'udp' }])).not.toThrow()
    expect(() =>
      e.checkPorts(256, '10.0.1.6', [
        { ...web, hostPort: 9000 },
        { ...web, hostPort: 9000 },
      ]),
    ).toThrow(ValidationError)
    expect(() =>
      e.checkPorts(256, '10.0.1.6', [{ ...web, hostPort: 9000, hostIp: '198.18.0.9' }]),
    ).toThrow(/not an address of this host/)
    // the same endpoint re-attached (an agent restart) keeps its own port
    await e.attach(ep('10.0.1.5'))
    expect(f.applied.at(-1)!.publications).toEqual([{ vni: 256, ip: '10.0.1.5', ports: [web] }])
  })

  test('an endpoint or a network that goes takes its ports along; an unchanged table is not rewritten', async () => {
    const f = fakeKernel()
    const e = new HostEgress(f.k)
    await e.start()
    await e.setSubnets(SUBNETS)
    await e.attach(ep('10.0.1.5'))
    await e.attach(ep('10.0.1.6', 256, [{ ...web, hostPort: 8081 }]))
    const writes = f.applied.length
    await e.detach(256, '10.0.1.99') // nothing of it: no write
    expect(f.applied.length).toBe(writes)
    await e.detach(256, '10.0.1.5')
    expect(f.applied.at(-1)!.publications.map((p) => p.ip)).toEqual(['10.0.1.6'])
    await e.detachNetwork(256)
    expect(f.applied.at(-1)!.publications).toEqual([])
    // setSubnets always writes (the reconciler's resync puts back a table changed behind weft's back)
    await e.setSubnets(SUBNETS)
    expect(f.applied.length).toBe(writes + 3)
  })
})
