import { describe, expect, test } from 'bun:test'
import {
  defaultGateway,
  nextDefaultSubnet,
  nextFreeAddress,
  nextFreeVni,
  subnetsOverlap,
  parseKey,
  keys,
} from '../../src/cluster/index.ts'
import { passedOver } from '../../src/cluster/ipam.ts'
import { parseCidr } from '../../src/net/index.ts'

describe('ipam', () => {
  const net = parseCidr('10.0.1.0/24')

  test('the gateway is the first address and containers start at .2', () => {
    expect(defaultGateway(net)).toBe('10.0.1.1')
    expect(nextFreeAddress(net, '10.0.1.1', new Set())).toBe('10.0.1.2')
  })

  test('skips taken addresses and the gateway wherever it is', () => {
    expect(nextFreeAddress(net, '10.0.1.3', new Set(['10.0.1.2']))).toBe('10.0.1.1')
    expect(nextFreeAddress(net, '10.0.1.3', new Set(['10.0.1.1', '10.0.1.2']))).toBe('10.0.1.4')
  })

  test('never hands out the broadcast address; undefined when full', () => {
    const small = parseCidr('10.0.2.0/30') // .1 gateway, .2 only host
    expect(nextFreeAddress(small, '10.0.2.1', new Set())).toBe('10.0.2.2')
    expect(nextFreeAddress(small, '10.0.2.1', new Set(['10.0.2.2']))).toBeUndefined()
  })

  test('an ip-range narrows the pool', () => {
    expect(nextFreeAddress(net, '10.0.1.1', new Set(), parseCidr('10.0.1.128/25'))).toBe(
      '10.0.1.128',
    )
  })

  test('passedOver: the assignable addresses below a choice, without the gateway or what the range leaves out', () => {
    expect(passedOver('10.0.1.2', '10.0.1.4', net, '10.0.1.1')).toBe(true)
    expect(passedOver('10.0.1.4', '10.0.1.4', net, '10.0.1.1')).toBe(false)
    expect(passedOver('10.0.1.9', '10.0.1.4', net, '10.0.1.1')).toBe(false)
    expect(passedOver('10.0.1.3', '10.0.1.4', net, '10.0.1.3')).toBe(false)
    expect(passedOver('10.0.1.0', '10.0.1.4', net, '10.0.1.1')).toBe(false)
    const range = parseCidr('10.0.1.128/25')
    expect(passedOver('10.0.1.5', '10.0.1.130', net, '10.0.1.1', range)).toBe(false)
    expect(passedOver('10.0.1.129', '10.0.1.130', net, '10.0.1.1', range)).toBe(true)
  })

  test('overlap detection covers containment both ways', () => {
    expect(subnetsOverlap(parseCidr('10.0.0.0/16'), net)).toBe(true)
    expect(subnetsOverlap(net, parseCidr('10.0.0.0/16'))).toBe(true)
    expect(subnetsOverlap(net, parseCidr('10.0.2.0/24'))).toBe(false)
  })

  test('default subnets are the first free 10.0.N.0/24', () => {
    expect(nextDefaultSubnet([])?.cidr).toBe('10.0.0.0/24')
    expect(nextDefaultSubnet([parseCidr('10.0.0.0/23')])?.cidr).toBe('10.0.2.0/24')
  })

  test('VNIs start at 256 and skip used ones', () => {
    expect(nextFreeVni(new Set())).toBe(256)
    expect(nextFreeVni(new Set([256, 257]))).toBe(258)
  })
})

describe('key layout', () => {
  test('every key kind round-trips through parseKey', () => {
    expect(parseKey(keys.node('h1'))).toEqual({ kind: 'node', name: 'h1' })
    expect(parseKey(keys.network('ab'))).toEqual({ kind: 'network', id: 'ab' })
    expect(parseKey(keys.vni(300))).toEqual({ kind: 'vni', vni: 300 })
    expect(parseKey(keys.ipam('ab', '10.0.0.2'))).toEqual({
      kind: 'ipam',
      networkId: 'ab',
      ip: '10.0.0.2',
    })
    expect(parseKey(keys.endpoint('ab', 'cd'))).toEqual({
      kind: 'endpoint',
      networkId: 'ab',
      endpointId: 'cd',
    })
    expect(parseKey('other/thing')).toEqual({ kind: 'other' })
  })

  test('keys use only the characters every Consul version accepts', () => {
    for (const k of [
      keys.ipam('a'.repeat(64), '10.0.0.2'),
      keys.networkSeq(),
      keys.node('host-1.example'),
    ]) {
      expect(k).toMatch(/^[A-Za-z0-9_.,\/-]+$/)
      expect(k).not.toContain('//')
    }
  })
})
