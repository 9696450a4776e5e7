// Pure parts of the host plumbing: sandbox resolution, iproute2 output/batch parsing,
// underlay selection, endpoint spec validation and the batch lines it produces.
import { describe, expect, test } from 'bun:test'
import { NotFoundError, ValidationError } from '../../src/errors/index.ts'
import { parseIprouteJson, pickUnderlay, resolveSandbox, sandboxPath, validatePlumbSpec } from '../../src/net/index.ts'
import { hostCreateLines, sandboxLines } from '../../src/net/endpoint.ts'
import { failedBatchLine, iprouteMessage } from '../../src/net/exec.ts'

describe('sandboxPath', () => {
  test('a name lives under /run/netns, a path stays, a PID becomes /proc/PID/ns/net', () => {
    expect(sandboxPath('c1')).toBe('/run/netns/c1')
    expect(sandboxPath('/proc/123/ns/net')).toBe('/proc/123/ns/net')
    expect(sandboxPath('/var/run/docker/netns/abc')).toBe('/var/run/docker/netns/abc')
    expect(sandboxPath('4242')).toBe('/proc/4242/ns/net')
  })
  test('rejects empty, relative paths and dot names', () => {
    for (const bad of ['', '  ', 'a/b', '.', '..']) expect(() => sandboxPath(bad)).toThrow(ValidationError)
  })
  test('a missing sandbox says what to check', () => {
    expect(() => resolveSandbox('/proc/999999999/ns/net')).toThrow(NotFoundError)
    expect(() => resolveSandbox('/proc/999999999/ns/net')).toThrow(
      'sandbox /proc/999999999/ns/net not found: is the container running?',
    )
    expect(() => resolveSandbox('wf-no-such-ns')).toThrow(/ip netns add wf-no-such-ns/)
  })
})

describe('iproute2 output', () => {
  test('64-bit counters survive JSON parsing as strings', () => {
    const v = parseIprouteJson<{ stats64: { rx: { bytes: string | number; packets: number } } }[]>(
      '[{"stats64":{"rx":{"bytes":18446744073709551615,"packets":12}}}]',
    )
    expect(BigInt(v[0]!.stats64.rx.bytes)).toBe(18446744073709551615n)
    expect(v[0]!.stats64.rx.packets).toBe(12)
    expect(parseIprouteJson('')).toEqual([])
  })
  test('batch failures name the line and drop the trailer', () => {
    const stderr = 'RTNETLINK answers: File exists\nCommand failed -:3\n'
    expect(failedBatchLine(stderr)).toBe(3)
    expect(failedBatchLine('Error: bad')).toBeUndefined()
    expect(iprouteMessage(stderr)).toBe('RTNETLINK answers: File exists')
  })
})

describe('pickUnderlay', () => {
  const addrs = [
    { ifindex: 1, ifname: 'lo', mtu: 65536, address: '00:00:00:00:00:00', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
    { ifindex: 2, ifname: 'ul0', mtu: 9000, address: '02:00:00:00:00:01', addr_info: [{ family: 'inet', local: '198.18.0.1', prefixlen: 24 }] },
  ]
  test('finds the NIC carrying the address with MTU and MAC', () => {
    expect(pickUnderlay(addrs, '198.18.0.1')).toEqual({
      ifname: 'ul0', ifindex: 2, mtu: 9000, mac: '02:00:00:00:00:01', ip: '198.18.0.1', prefixLen: 24,
    })
  })
  test('returns undefined when no NIC has it', () => {
    expect(pickUnderlay(addrs, '198.18.0.9')).toBeUndefined()
  })
})

describe('validatePlumbSpec and its batch lines', () => {
  const spec = {
    sandbox: 'c1', ifname: 'eth0', hostIfname: 'wf0123456789', mac: '02:42:0A:00:01:02', ip: '10.0.1.2',
    prefixLen: 24, mtu: 1450,
  }
  test('normalises and defaults the host MTU to the sandbox MTU', () => {
    const s = validatePlumbSpec(spec)
    expect(s.mac).toBe('02:42:0a:00:01:02')
    expect(s.hostMtu).toBe(1450)
  })
  test.each([
    [{ hostIfname: 'veth0' }, /must start with "wf"/],
    [{ hostIfname: 'wf0123456789abcdef' }, /1..15 characters/],
    [{ ifname: '' }, /sandbox interface name/],
    [{ mtu: 67 }, /MTU 67 is out of range/],
    [{ hostMtu: 70000 }, /host MTU/],
    [{ prefixLen: 0 }, /prefix length/],
    [{ ip: '10.0.1.300' }, /endpoint address/],
    [{ mac: 'ff:ff:ff:ff:ff:ff' }, /multicast/],
    [{ alias: 'a"b' }, /alias/],
  ])('rejects %p', (patch, msg) => {
    expect(() => validatePlumbSpec({ ...spec, ...patch })).toThrow(msg)
  })
  test('host side: one line creates the pair with the peer already in the sandbox; no IPv6 on the host end', () => {
    const lines = hostCreateLines(validatePlumbSpec({ ...spec, hostMtu: 1500, master: 'wfbr256', alias: 'weft:ep:256:10.0.1.2' }), '/run/netns/c1')
    expect(lines).toEqual([
      'link add wf0123456789 mtu 1500 master wfbr256 type veth peer name eth0 netns /run/netns/c1 address 02:42:0a:00:01:02 mtu 1450',
      'link set dev wf0123456789 addrgenmode none up',
      'link set dev wf0123456789 alias "weft:ep:256:10.0.1.2"',
      'link show dev wf0123456789',
    ])
  })
  test('sandbox side: address with prefix (the connected route only), stale addresses removed', () => {
    expect(sandboxLines(validatePlumbSpec(spec), ['10.0.9.9/24'])).toEqual([
      'link set dev eth0 address 02:42:0a:00:01:02 mtu 1450 addrgenmode none',
      'addr del 10.0.9.9/24 dev eth0',
      'addr replace 10.0.1.2/24 dev eth0',
      'link set dev eth0 up',
      'link show dev eth0',
    ])
  })
})
