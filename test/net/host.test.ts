// Pure parts of the host plumbing: sandbox resolution, iproute2 output/batch parsing,
// underlay selection and endpoint spec validation (the netlink messages plumbing sends are
// in test/unit/netlink-message.test.ts).
import { describe, expect, test } from 'bun:test'
import { NotFoundError, ValidationError } from '../../src/errors/index.ts'
import {
  parseIprouteJson,
  pickUnderlay,
  resolveSandbox,
  sandboxPath,
  validatePlumbSpec,
} from '../../src/net/index.ts'
import { failedBatchLine, iprouteMessage } from '../../src/net/exec.ts'

describe('sandboxPath', () => {
  test('a name lives under /run/netns, a path stays, a PID becomes /proc/PID/ns/net', () => {
    expect(sandboxPath('c1')).toBe('/run/netns/c1')
    expect(sandboxPath('/proc/123/ns/net')).toBe('/proc/123/ns/net')
    expect(sandboxPath('/var/run/docker/netns/abc')).toBe('/var/run/docker/netns/abc')
    expect(sandboxPath('4242')).toBe('/proc/4242/ns/net')
  })
  test('rejects empty, relative paths and dot names', () => {
    for (const bad of ['', '  ', 'a/b', '.', '..'])
      expect(() => sandboxPath(bad)).toThrow(ValidationError)
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
    { ifindex: 1, ip: '127.0.0.1', prefixLen: 8 },
    { ifindex: 2, ip: '198.18.0.1', prefixLen: 24 },
  ]
  const links = new Map([
    [1, { ifindex: 1, ifname: 'lo', mtu: 65536, mac: '00:00:00:00:00:00', up: true }],
    [2, { ifindex: 2, ifname: 'ul0', mtu: 9000, mac: '02:00:00:00:00:01', up: true }],
  ])
  test('finds the NIC carrying the address with MTU and MAC', () => {
    expect(pickUnderlay(addrs, (i) => links.get(i), '198.18.0.1')).toEqual({
      ifname: 'ul0',
      ifindex: 2,
      mtu: 9000,
      mac: '02:00:00:00:00:01',
      ip: '198.18.0.1',
      prefixLen: 24,
    })
  })
  test('returns undefined when no NIC has it, or the link vanished in between', () => {
    expect(pickUnderlay(addrs, (i) => links.get(i), '198.18.0.9')).toBeUndefined()
    expect(pickUnderlay(addrs, () => undefined, '198.18.0.1')).toBeUndefined()
  })
})

describe('validatePlumbSpec', () => {
  const spec = {
    sandbox: 'c1',
    ifname: 'eth0',
    hostIfname: 'wf0123456789',
    mac: '02:42:0A:00:01:02',
    ip: '10.0.1.2',
    prefixLen: 24,
    mtu: 1450,
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
})
