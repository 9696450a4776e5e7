import { describe, expect, test } from 'bun:test'
import { ValidationError } from '../../src/errors/index.ts'
import {
  assertId,
  assertIfname,
  assertVni,
  bridgeName,
  hostIfnameFor,
  IFNAME_MAX,
  macFromIp,
  parseMac,
  vniFromName,
  vxlanName,
} from '../../src/net/index.ts'

const ID = '0123456789abcdef'.repeat(4)

describe('interface names', () => {
  test('accepts 1..15 characters of the allowed set', () => {
    expect(assertIfname('eth0')).toBe('eth0')
    expect(assertIfname('a'.repeat(IFNAME_MAX))).toBe('a'.repeat(15))
    expect(assertIfname('vx-1_a.b@c+d')).toBe('vx-1_a.b@c+d')
  })
  test.each(['', 'a'.repeat(16), 'eth 0', 'eth/0', 'eth:0', '.', '..'])('rejects %p', (bad) => {
    expect(() => assertIfname(bad)).toThrow(ValidationError)
  })
  test('host veth name is wf + 10 hex of the endpoint id, 12 chars', () => {
    expect(hostIfnameFor(ID)).toBe('wf0123456789')
    expect(hostIfnameFor(ID).length).toBeLessThanOrEqual(IFNAME_MAX)
    expect(() => hostIfnameFor('xyz')).toThrow(/64 lower-case hex/)
    expect(() => hostIfnameFor(ID.toUpperCase())).toThrow(ValidationError)
  })
  test('bridge and vxlan names carry the VNI and fit even for the largest VNI', () => {
    expect(bridgeName(256)).toBe('wfbr256')
    expect(vxlanName(0xffffff)).toBe('wfvx16777215')
    expect(vxlanName(0xffffff).length).toBeLessThanOrEqual(IFNAME_MAX)
    expect(vniFromName('wfvx4096', 'vx')).toBe(4096)
    expect(vniFromName('wfbr4096', 'vx')).toBeUndefined()
    expect(vniFromName('wfvx0256', 'vx')).toBeUndefined()
    expect(vniFromName('wfvx0', 'vx')).toBeUndefined()
    expect(vniFromName('wfvx99999999', 'vx')).toBeUndefined()
  })
})

describe('VNI and id', () => {
  test('VNI is 1..2^24-1', () => {
    expect(assertVni(1)).toBe(1)
    expect(assertVni(0xffffff)).toBe(0xffffff)
    for (const bad of [0, -1, 0x1000000, 1.5, NaN])
      expect(() => assertVni(bad)).toThrow(/out of range/)
  })
  test('id is 64 lower-case hex', () => {
    expect(assertId(ID)).toBe(ID)
    expect(() => assertId(ID.slice(1))).toThrow(ValidationError)
  })
})

describe('MAC addresses', () => {
  test('Docker scheme: 02:42 + the IPv4 bytes', () => {
    expect(macFromIp('10.0.1.2')).toBe('02:42:0a:00:01:02')
    expect(macFromIp('172.16.255.254')).toBe('02:42:ac:10:ff:fe')
  })
  test('parseMac normalises case and dashes', () => {
    expect(parseMac('02-42-0A-00-01-02')).toBe('02:42:0a:00:01:02')
  })
  test.each([
    '',
    '02:42:0a:00:01',
    '02:42:0a:00:01:0g',
    '01:00:5e:00:00:01',
    '00:00:00:00:00:00',
    'ff:ff:ff:ff:ff:ff',
  ])('rejects %p (malformed, multicast or zero)', (bad) => {
    expect(() => parseMac(bad)).toThrow(ValidationError)
  })
})
