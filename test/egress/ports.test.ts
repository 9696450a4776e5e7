// --publish parsing and the per-endpoint plumbing lines (pure: no root, no kernel).
import { describe, expect, test } from 'bun:test'
import { defaultRouteMetric, duplicatePort, formatPublished, parsePublish, wayOutLines } from '../../src/egress/index.ts'

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

describe('way-out plumbing of one endpoint', () => {
  test('host: a /32 route and a permanent neighbour on its veth; sandbox: a default route via the gateway', () => {
    const lines = wayOutLines({
      hostIfname: 'wf0123456789', ip: '10.0.1.5', mac: '02:42:0a:00:01:05', sandboxPath: '/run/netns/c1', ifname: 'eth1', gateway: '10.0.1.1',
    })
    expect(lines.host).toEqual([
      'route replace 10.0.1.5/32 dev wf0123456789 scope link',
      'neigh replace 10.0.1.5 lladdr 02:42:0a:00:01:05 dev wf0123456789 nud permanent',
    ])
    expect(lines.sandbox).toEqual(['route replace default via 10.0.1.1 dev eth1 metric 101'])
  })

  test('each sandbox interface gets its own default-route metric, eth0 preferred', () => {
    expect(defaultRouteMetric('eth0')).toBe(100)
    expect(defaultRouteMetric('eth3')).toBe(103)
    expect(defaultRouteMetric('net')).toBe(100)
  })
})
