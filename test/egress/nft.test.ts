// The nftables table weft writes (pure rendering) and the comments published ports are read
// back from. Root-free; the table's effect is shown by test/egress/way-out.test.ts.
import { describe, expect, test } from 'bun:test'
import { parsePubComment, publishedFromJson, renderTable } from '../../src/egress/index.ts'

const state = {
  natSources: ['10.0.2.0/24', '10.0.1.0/24'],
  weftSubnets: ['10.0.1.0/24', '10.0.2.0/24', '10.0.3.0/24'],
  publications: [
    { vni: 257, ip: '10.0.2.7', ports: [{ proto: 'udp' as const, hostIp: '198.18.0.1', hostPort: 53, containerPort: 5353 }] },
    { vni: 256, ip: '10.0.1.5', ports: [{ proto: 'tcp' as const, hostPort: 8080, containerPort: 80 }] },
  ],
}

describe('renderTable', () => {
  const text = renderTable(state)
  const lines = text.split('\n').map((l) => l.trim())

  test('replaces table inet weft whole, in one transaction, and touches nothing else', () => {
    expect(lines.slice(0, 3)).toEqual(['table inet weft', 'delete table inet weft', 'table inet weft {'])
    expect(lines.filter((l) => /^(table|delete|flush|add)\b/.test(l)).every((l) => l.includes('inet weft'))).toBe(true)
  })

  test('ONE masquerade rule for the way out, for non-internal weft sources towards no weft subnet', () => {
    expect(lines.filter((l) => l.includes('masquerade'))).toEqual([
      'ip saddr @nat_sources ip daddr != @weft_subnets oifname != "wf*" counter masquerade comment "weft way out"',
      // and hairpin: a published port reached from a container of the same host
      'ip saddr @weft_subnets oifname "wf*" ct status dnat counter masquerade comment "weft hairpin"',
    ])
    expect(text).toContain('elements = { 10.0.1.0/24, 10.0.2.0/24 }')
    expect(text).toContain('elements = { 10.0.1.0/24, 10.0.2.0/24, 10.0.3.0/24 }')
  })

  test('one DNAT rule per published port, with the facts to read it back', () => {
    const dnat = lines.filter((l) => l.includes('dnat ip to'))
    expect(dnat).toEqual([
      'tcp dport 8080 counter dnat ip to 10.0.1.5:80 comment "weft-pub 256 10.0.1.5 tcp * 8080 80"',
      'ip daddr 198.18.0.1 udp dport 53 counter dnat ip to 10.0.2.7:5353 comment "weft-pub 257 10.0.2.7 udp 198.18.0.1 53 5353"',
    ])
    expect(parsePubComment('weft-pub 257 10.0.2.7 udp 198.18.0.1 53 5353')).toMatchObject({
      vni: 257, ip: '10.0.2.7', port: { proto: 'udp', hostIp: '198.18.0.1', hostPort: 53, containerPort: 5353 },
    })
    expect(parsePubComment('weft-pub 256 10.0.1.5 tcp * 8080 80')?.port).toEqual({ proto: 'tcp', hostPort: 8080, containerPort: 80 })
    expect(parsePubComment('weft way out')).toBeUndefined()
  })

  test('the way in to containers: only replies and published ports', () => {
    const guard = lines.filter((l) => l.startsWith('oifname "wf*"'))
    expect(guard).toEqual([
      // one counting rule per publication, first: it sees every packet of its connections
      'oifname "wf*" ip daddr 10.0.1.5 tcp dport 80 ct status dnat counter accept comment "weft-pub 256 10.0.1.5 tcp * 8080 80"',
      'oifname "wf*" ip daddr 10.0.2.7 udp dport 5353 ct status dnat counter accept comment "weft-pub 257 10.0.2.7 udp 198.18.0.1 53 5353"',
      'oifname "wf*" ct state established,related accept',
      'oifname "wf*" ct status dnat accept',
      'oifname "wf*" counter drop comment "weft: no way in but replies and published ports"',
    ])
  })

  test('empty sets have no elements line (nft refuses an empty one)', () => {
    expect(renderTable({ natSources: [], weftSubnets: [], publications: [] })).not.toContain('elements')
  })
})

describe('publishedFromJson (nft -j list table inet weft)', () => {
  test('connections from the DNAT rule, packets and bytes from the forward rule, matched by comment', () => {
    const c = 'weft-pub 256 10.0.1.5 tcp * 8080 80'
    const rule = (chain: string, comment: string, packets: number, bytes: number) => ({
      rule: { family: 'inet', table: 'weft', chain, handle: 1, comment, expr: [{ match: {} }, { counter: { packets, bytes } }, { accept: null }] },
    })
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        rule('postrouting', 'weft way out', 9, 900),
        rule('published', c, 3, 180),
        rule('forward', c, 40, 4000),
        rule('forward', 'weft: no way in but replies and published ports', 5, 300),
      ],
    })
    expect(publishedFromJson(json)).toEqual([
      {
        vni: 256, ip: '10.0.1.5', port: { proto: 'tcp', hostPort: 8080, containerPort: 80 },
        ports: [{ proto: 'tcp', hostPort: 8080, containerPort: 80 }], connections: 3n, packets: 40n, bytes: 4000n,
      },
    ])
  })
})
