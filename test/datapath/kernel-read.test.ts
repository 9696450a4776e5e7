// Pure parts of the kernel datapath: ifalias metadata and turning `ip -j`/`bridge -j`
// output into ActualState and VniStats.
import { describe, expect, test } from 'bun:test'
import {
  endpointAlias,
  networkAlias,
  parseEndpointAlias,
  parseNetworkAlias,
} from '../../src/datapath/kernel/names.ts'
import { actualFrom, statsFrom, type KernelView } from '../../src/datapath/kernel/read.ts'
import { parseIprouteJson } from '../../src/net/index.ts'

describe('ifalias metadata', () => {
  test('network alias round-trips', () => {
    const m = { vni: 4097, subnet: '10.0.1.0/24', mtu: 1450, id12: 'aaaaaaaaaaaa' }
    expect(networkAlias(m)).toBe('weft:net:4097:10.0.1.0/24:1450:aaaaaaaaaaaa')
    expect(parseNetworkAlias(networkAlias(m))).toEqual(m)
    expect(parseNetworkAlias('something else')).toBeUndefined()
    expect(parseNetworkAlias(undefined)).toBeUndefined()
  })
  test('endpoint alias round-trips', () => {
    expect(parseEndpointAlias(endpointAlias(4097, '10.0.1.2'))).toEqual({
      vni: 4097,
      ip: '10.0.1.2',
    })
    expect(parseEndpointAlias('weft:ep:x:10.0.1.2')).toBeUndefined()
  })
})

const view: KernelView = {
  links: [
    { ifindex: 2, ifname: 'ul0', mtu: 1500 },
    {
      ifindex: 3,
      ifname: 'wfbr4097',
      mtu: 1500,
      ifalias: 'weft:net:4097:10.0.1.0/24:1450:aaaaaaaaaaaa',
      linkinfo: { info_kind: 'bridge' },
    },
    {
      ifindex: 4,
      ifname: 'wfvx4097',
      mtu: 1500,
      master: 'wfbr4097',
      linkinfo: { info_kind: 'vxlan', info_data: { id: 4097 } },
    },
    {
      ifindex: 5,
      ifname: 'wf6131613161',
      mtu: 1500,
      master: 'wfbr4097',
      ifalias: 'weft:ep:4097:10.0.1.2',
      linkinfo: { info_kind: 'veth' },
    },
    { ifindex: 6, ifname: 'wfbr77', mtu: 1500, linkinfo: { info_kind: 'bridge' } }, // a bridge without vxlan: no network
    { ifindex: 7, ifname: 'veth9', mtu: 1500, master: 'wfbr4097', linkinfo: { info_kind: 'veth' } }, // not ours: ignored
  ],
  neighs: [
    { dst: '10.0.1.3', dev: 'wfvx4097', lladdr: '02:42:0a:00:01:03', state: ['PERMANENT'] },
    { dst: '10.0.1.9', dev: 'wfvx4097', lladdr: '02:42:0a:00:01:09', state: ['PERMANENT'] }, // no FDB entry: not listed
    { dst: '192.0.2.1', dev: 'ul0', lladdr: '02:00:00:00:00:01', state: ['PERMANENT'] },
  ],
  fdb: [
    {
      mac: '02:42:0a:00:01:03',
      ifname: 'wfvx4097',
      dst: '198.18.0.2',
      flags: ['self'],
      state: 'permanent',
    },
    {
      mac: '00:00:00:00:00:00',
      ifname: 'wfvx4097',
      dst: '198.18.0.3',
      flags: ['self'],
      state: 'permanent',
    },
    {
      mac: '00:00:00:00:00:00',
      ifname: 'wfvx4097',
      dst: '198.18.0.2',
      flags: ['self'],
      state: 'permanent',
    },
    {
      mac: '5a:00:00:00:00:01',
      ifname: 'wfvx4097',
      flags: [],
      master: 'wfbr4097',
      state: 'permanent',
    },
  ],
}

describe('actualFrom', () => {
  test('joins neighbours with FDB entries and lists members sorted', () => {
    expect(actualFrom(view)).toEqual({
      networks: [{ vni: 4097 }],
      localEndpoints: [{ vni: 4097, ip: '10.0.1.2', hostIfname: 'wf6131613161', ifindex: 5 }],
      remoteEndpoints: [
        { vni: 4097, ip: '10.0.1.3', mac: '02:42:0a:00:01:03', vtep: '198.18.0.2' },
      ],
      members: [{ vni: 4097, vteps: ['198.18.0.2', '198.18.0.3'] }],
    })
  })
  test('an empty kernel is an empty state', () => {
    expect(actualFrom({ links: [], neighs: [], fdb: [] })).toEqual({
      networks: [],
      localEndpoints: [],
      remoteEndpoints: [],
      members: [],
    })
  })
})

describe('statsFrom', () => {
  test("reads the vxlan devices' 64-bit counters as bigints", () => {
    const links = parseIprouteJson<Parameters<typeof statsFrom>[0]>(
      JSON.stringify([
        {
          ifindex: 4,
          ifname: 'wfvx4097',
          mtu: 1500,
          stats64: {
            rx: { bytes: 1, packets: 2, errors: 0, dropped: 3 },
            tx: { bytes: 4, packets: 5, errors: 6, dropped: 7 },
          },
        },
        { ifindex: 9, ifname: 'other', mtu: 1500, stats64: { rx: {}, tx: {} } },
      ]).replace('"bytes":1,', '"bytes":18446744073709551615,'),
    )
    expect(statsFrom(links)).toEqual([
      {
        vni: 4097,
        rxBytes: 18446744073709551615n,
        rxPackets: 2n,
        txBytes: 4n,
        txPackets: 5n,
        drops: { rx_dropped: 3n, rx_errors: 0n, tx_dropped: 7n, tx_errors: 6n },
      },
    ])
  })
})
