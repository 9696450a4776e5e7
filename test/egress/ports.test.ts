// --publish parsing and the per-endpoint rtnetlink requests (pure: no root, no kernel).
import { describe, expect, test } from 'bun:test'
import {
  defaultRouteMessage, defaultRouteMetric, duplicatePort, formatPublished, hostRouteMessage, parsePublish, permanentNeighbourMessage,
} from '../../src/egress/index.ts'

describe('parsePublish ([HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp])', () => {
  test('the three spellings Docker accepts, tcp by default', () => {
    expect(parsePublish('8080:80')).toEqual({ proto: 'tcp', hostPort: 8080, containerPort: 80 })
    expect(parsePublish('8080:80/udp')).toEqual({ proto: 'udp', hostPort: 8080, containerPort: 80 })
    expect(parsePublish('198.18.0.1:53:5353/udp')).toEqual({ proto: 'udp', hostIp: '198.18.0.1', hostPort: 53, containerPort: 5353 })
    // an empty or any-address host IP means every address
    expect(parsePublish(':8080:80')).toEqual({ proto: 'tcp', hostPort: 8080, containerPort: 80 })
    expect(parsePublish('0.0.0.0:8080:80')).toEqual({ proto: 'tcp', hostPort: 8080, containerPort: 80 })
  })

  test('bad input is refused with what is wrong', () => {
    expect(() => parsePublish('80')).toThrow(/must be \[HOST_IP:\]HOST_PORT:CONTAINER_PORT/)
    expect(() => parsePublish('8080:80/sctp')).toThrow(/protocol must be \/tcp or \/udp/)
    expect(() => parsePublish('0:80')).toThrow(/host port "0" must be a port number/)
    expect(() => parsePublish('8080:65536')).toThrow(/container port "65536"/)
    expect(() => parsePublish('8080-8090:80')).toThrow(/host port/)
    expect(() => parsePublish('300.1.1.1:8080:80')).toThrow(/published host address/)
    expect(() => parsePublish('a:b:c:d')).toThrow(/must be/)
  })

  test('a host port twice (on any addresses) is a duplicate; tcp and udp are not', () => {
    expect(duplicatePort([parsePublish('8080:80'), parsePublish('1.2.3.4:8080:81')])).toEqual(parsePublish('1.2.3.4:8080:81'))
    expect(duplicatePort([parsePublish('8080:80'), parsePublish('8080:80/udp')])).toBeUndefined()
  })

  test('shown as docker ps shows it', () => {
    expect(formatPublished(parsePublish('8080:80'))).toBe('0.0.0.0:8080->80/tcp')
    expect(formatPublished(parsePublish('198.18.0.1:53:53/udp'))).toBe('198.18.0.1:53->53/udp')
  })
})

/** type, flags, the fixed header and the attributes (type -> payload) of one netlink request. */
function decode(m: { bytes(seq: number): Uint8Array }, fixedLen: number) {
  const b = m.bytes(1)
  const v = new DataView(b.buffer)
  const out = { type: v.getUint16(4, true), flags: v.getUint16(6, true), fixed: [...b.subarray(16, 16 + fixedLen)], attrs: new Map<number, number[]>() }
  for (let off = 16 + fixedLen; off < b.length; ) {
    const len = v.getUint16(off, true)
    out.attrs.set(v.getUint16(off + 2, true), [...b.subarray(off + 4, off + len)])
    off += (len + 3) & ~3
  }
  return out
}
const u32le = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24]
const REQUEST_CREATE_REPLACE_ACK = 0x1 | 0x400 | 0x100 | 0x4

describe('way-out plumbing of one endpoint (rtnetlink requests)', () => {
  test('host: ip route replace IP/32 dev VETH scope link mtu OVERLAY_MTU', () => {
    const m = decode(hostRouteMessage(7, '10.0.1.5', 1450), 12)
    expect(m.type).toBe(24) // RTM_NEWROUTE
    expect(m.flags).toBe(REQUEST_CREATE_REPLACE_ACK)
    // AF_INET, /32, main table, proto boot, scope link, unicast
    expect(m.fixed).toEqual([2, 32, 0, 0, 254, 3, 253, 1, 0, 0, 0, 0])
    expect(m.attrs.get(1)).toEqual([10, 0, 1, 5]) // RTA_DST
    expect(m.attrs.get(4)).toEqual(u32le(7)) // RTA_OIF
    expect(m.attrs.get(8)).toEqual([8, 0, 2, 0, ...u32le(1450)]) // RTA_METRICS { RTAX_MTU }
  })

  test('host: ip neigh replace IP lladdr MAC dev VETH nud permanent', () => {
    const m = decode(permanentNeighbourMessage(7, '10.0.1.5', '02:42:0a:00:01:05'), 12)
    expect(m.type).toBe(28) // RTM_NEWNEIGH
    expect(m.flags).toBe(REQUEST_CREATE_REPLACE_ACK)
    expect(m.fixed).toEqual([2, 0, 0, 0, ...u32le(7), 0x80, 0, 0, 0]) // AF_INET, ifindex, NUD_PERMANENT
    expect(m.attrs.get(1)).toEqual([10, 0, 1, 5]) // NDA_DST
    expect(m.attrs.get(2)).toEqual([0x02, 0x42, 0x0a, 0x00, 0x01, 0x05]) // NDA_LLADDR
  })

  test('sandbox: ip route replace default via GW dev ethN metric 100+N', () => {
    const m = decode(defaultRouteMessage(2, '10.0.1.1', defaultRouteMetric('eth1')), 12)
    expect(m.type).toBe(24)
    expect(m.fixed).toEqual([2, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0]) // default, scope universe
    expect(m.attrs.get(5)).toEqual([10, 0, 1, 1]) // RTA_GATEWAY
    expect(m.attrs.get(4)).toEqual(u32le(2))
    expect(m.attrs.get(6)).toEqual(u32le(101)) // RTA_PRIORITY
  })

  test('each sandbox interface gets its own default-route metric, eth0 preferred', () => {
    expect(defaultRouteMetric('eth0')).toBe(100)
    expect(defaultRouteMetric('eth3')).toBe(103)
    expect(defaultRouteMetric('net')).toBe(100)
  })
})
