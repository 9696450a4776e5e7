// Addresses that cannot work in an overlay are named with a reason; usable ones pass.
import { describe, expect, test } from 'bun:test'
import { unusableSubnetReason, unusableVtepReason } from '../../src/cluster/usable.ts'

describe('unusableSubnetReason', () => {
  const refused: [string, RegExp][] = [
    ['224.0.0.0/24', /overlaps 224\.0\.0\.0\/4, multicast/],
    ['239.255.0.0/16', /multicast/],
    ['127.0.0.0/24', /overlaps 127\.0\.0\.0\/8, loopback/],
    ['255.255.255.0/24', /240\.0\.0\.0\/4, reserved .*limited broadcast/],
    ['240.0.0.0/4', /reserved/],
    ['0.0.0.0/8', /"this network"/],
    ['0.0.0.0/0', /overlaps 0\.0\.0\.0\/8/],
    ['169.254.0.0/16', /link-local/],
    ['169.254.10.0/24', /link-local/],
    ['192.0.0.0/2', /overlaps 224\.0\.0\.0\/4/],
    ['126.0.0.0/7', /loopback/],
  ]
  for (const [cidr, why] of refused) {
    test(`refuses ${cidr} and says why`, () => {
      const r = unusableSubnetReason(cidr)
      expect(r).toMatch(why)
      expect(r).toMatch(/pick a private range/)
    })
  }

  for (const cidr of [
    '10.0.1.0/24',
    '172.16.0.0/12',
    '192.168.0.0/16',
    '100.64.0.0/10',
    '1.0.0.0/8',
    '223.255.255.0/24',
    '128.0.0.0/8',
    '169.253.0.0/16',
    '169.255.0.0/16',
  ]) {
    test(`accepts ${cidr}`, () => expect(unusableSubnetReason(cidr)).toBeUndefined())
  }

  test("an unparsable subnet is named with the parser's reason", () => {
    expect(unusableSubnetReason('10.0.300.0/24')).toMatch(
      /subnet "10\.0\.300\.0\/24" is not a valid CIDR/,
    )
    expect(unusableSubnetReason('10.0.1.5/24')).toMatch(/host bits set/)
  })
})

describe('unusableVtepReason', () => {
  const refused: [string, RegExp][] = [
    ['0.0.0.0', /0\.0\.0\.0\/8, "this network"/],
    ['127.0.0.1', /loopback/],
    ['127.1.2.3', /loopback/],
    ['224.0.0.1', /multicast/],
    ['255.255.255.255', /limited broadcast/],
    ['240.0.0.1', /reserved/],
  ]
  for (const [ip, why] of refused) {
    test(`refuses ${ip} and says why`, () => {
      const r = unusableVtepReason(ip, [])
      expect(r).toMatch(why)
      expect(r).toMatch(/unicast underlay address/)
    })
  }

  test("refuses a weft node's own address, naming the node when known", () => {
    expect(
      unusableVtepReason(
        '192.168.50.2',
        new Map([
          ['h1', '192.168.50.1'],
          ['h2', '192.168.50.2'],
        ]),
      ),
    ).toBe(
      'vtep 192.168.50.2 is the address of weft node h2: connect the container on that node instead of declaring it external',
    )
    expect(unusableVtepReason('192.168.50.1', ['192.168.50.1'])).toMatch(/address of a weft node/)
  })

  test('accepts a unicast address that no node holds (link-local too)', () => {
    expect(unusableVtepReason('192.168.50.9', ['192.168.50.1', 'not-an-ip'])).toBeUndefined()
    expect(unusableVtepReason('169.254.7.7', [])).toBeUndefined()
    expect(unusableVtepReason('223.255.255.254', new Map())).toBeUndefined()
  })

  test("an unparsable VTEP is named with the parser's reason", () => {
    expect(unusableVtepReason('10.0.0', [])).toMatch(/vtep "10\.0\.0" is not a valid IPv4 address/)
  })
})
