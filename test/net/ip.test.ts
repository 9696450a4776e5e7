import { describe, expect, test } from 'bun:test'
import { ValidationError } from '../../src/errors/index.ts'
import {
  assertHostAddress,
  formatIfaceAddress,
  intToIPv4,
  ipInSubnet,
  ipv4Bytes,
  ipv4ToInt,
  parseCidr,
  parseIPv4,
} from '../../src/net/index.ts'

describe('parseIPv4', () => {
  test('accepts dotted quads and trims', () => {
    expect(parseIPv4('10.0.1.2')).toBe('10.0.1.2')
    expect(parseIPv4(' 198.18.0.1 ')).toBe('198.18.0.1')
    expect(parseIPv4('0.0.0.0')).toBe('0.0.0.0')
    expect(parseIPv4('255.255.255.255')).toBe('255.255.255.255')
  })
  test.each([
    '',
    '10.0.1',
    '10.0.1.256',
    '10.0.1.2/24',
    'a.b.c.d',
    '010.0.1.2',
    '::1',
    '1.2.3.4.5',
  ])('rejects %p with a ValidationError naming it', (bad) => {
    expect(() => parseIPv4(bad, 'gateway')).toThrow(ValidationError)
    expect(() => parseIPv4(bad, 'gateway')).toThrow(/gateway/)
  })
  test('rejects non-strings', () => {
    expect(() => parseIPv4(undefined as unknown as string)).toThrow(ValidationError)
  })
})

describe('byte and integer forms', () => {
  test('ipv4Bytes gives the four octets in order', () => {
    expect(ipv4Bytes('10.0.1.2')).toEqual([10, 0, 1, 2])
  })
  test('ipv4ToInt and intToIPv4 round-trip, including the top bit', () => {
    for (const ip of ['0.0.0.0', '10.0.1.2', '198.18.0.255', '255.255.255.255', '128.0.0.1']) {
      expect(intToIPv4(ipv4ToInt(ip))).toBe(ip)
    }
    expect(ipv4ToInt('255.255.255.255')).toBe(0xffffffff)
    expect(() => intToIPv4(-1)).toThrow(ValidationError)
  })
})

describe('parseCidr', () => {
  test('returns network, prefix and broadcast', () => {
    expect(parseCidr('10.0.1.0/24')).toEqual({
      network: '10.0.1.0',
      prefixLen: 24,
      broadcast: '10.0.1.255',
      cidr: '10.0.1.0/24',
    })
    expect(parseCidr('10.0.0.0/8').broadcast).toBe('10.255.255.255')
    expect(parseCidr('10.0.1.7/32').broadcast).toBe('10.0.1.7')
  })
  test('rejects host bits with a suggestion', () => {
    expect(() => parseCidr('10.0.1.5/24')).toThrow(/did you mean 10.0.1.0\/24/)
  })
  test.each(['10.0.1.0', '10.0.1.0/33', '10.0.1.0/', '10.0.1.0/x', '10.0.1.0/-1', 'x/24'])(
    'rejects %p',
    (bad) => {
      expect(() => parseCidr(bad)).toThrow(ValidationError)
    },
  )
})

describe('subnet membership', () => {
  test('ipInSubnet', () => {
    expect(ipInSubnet('10.0.1.2', '10.0.1.0/24')).toBe(true)
    expect(ipInSubnet('10.0.2.2', '10.0.1.0/24')).toBe(false)
    expect(ipInSubnet('10.0.1.255', parseCidr('10.0.1.0/24'))).toBe(true)
  })
  test('assertHostAddress rejects outside, network and broadcast addresses', () => {
    expect(() => assertHostAddress('10.0.1.2', '10.0.1.0/24')).not.toThrow()
    expect(() => assertHostAddress('10.0.2.2', '10.0.1.0/24')).toThrow(
      /outside the subnet 10.0.1.0\/24/,
    )
    expect(() => assertHostAddress('10.0.1.0', '10.0.1.0/24')).toThrow(/network address/)
    expect(() => assertHostAddress('10.0.1.255', '10.0.1.0/24')).toThrow(/broadcast address/)
    expect(() => assertHostAddress('10.0.1.0', '10.0.1.0/31')).not.toThrow()
  })
  test('formatIfaceAddress', () => {
    expect(formatIfaceAddress('10.0.1.2', '10.0.1.0/24')).toBe('10.0.1.2/24')
  })
})
