// The kernel datapath's remote-endpoint requests byte for byte, its in-memory tables, the
// check that lets upsertNetwork skip `ip -d`, and the parse of its netlink read: pure code, no root. (Against the real kernel:
// test/datapath/kernel.test.ts and test/drift/drift-kernel.test.ts.)
import { describe, expect, test } from 'bun:test'
import {
  fdbAddMessage,
  fdbDeleteMessage,
  neighDeleteMessage,
  neighReplaceMessage,
} from '../../src/datapath/kernel/neigh-messages.ts'
import { tableFrom } from '../../src/datapath/kernel/remote-table.ts'
import { asLeft } from '../../src/datapath/kernel/links.ts'
import { parseNeigh, viewFrom } from '../../src/datapath/kernel/dump.ts'
import { attrs } from '../../src/net/netlink-message.ts'
import { NetlinkMessage, type NlLink } from '../../src/net/index.ts'

/** Header fields, ndmsg fields and attributes of one request. */
function decode(bytes: Uint8Array) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return {
    len: v.getUint32(0, true),
    type: v.getUint16(4, true),
    flags: v.getUint16(6, true),
    family: bytes[16],
    ifindex: v.getInt32(20, true),
    state: v.getUint16(24, true),
    ndmFlags: bytes[26],
    attrs: attrs(bytes, 28),
  }
}
const hex = (b?: Uint8Array) =>
  b ? [...b].map((x) => x.toString(16).padStart(2, '0')).join(':') : ''

describe('neighbour and FDB requests', () => {
  test('neigh replace: RTM_NEWNEIGH, CREATE|REPLACE|ACK, AF_INET, permanent, dst and lladdr', () => {
    const m = decode(neighReplaceMessage(7, '10.1.2.3', '02:42:0a:01:02:03').bytes(1))
    expect(m.len).toBe(28 + 8 + 12)
    expect(m).toMatchObject({ type: 28, flags: 0x1 | 0x4 | 0x100 | 0x400, family: 2, ifindex: 7 })
    expect(m.state).toBe(0x80)
    expect([...m.attrs.get(1)!]).toEqual([10, 1, 2, 3])
    expect(hex(m.attrs.get(2))).toBe('02:42:0a:01:02:03')
  })

  test('neigh del: RTM_DELNEIGH with the address only', () => {
    const m = decode(neighDeleteMessage(7, '10.1.2.3').bytes(1))
    expect(m).toMatchObject({ type: 29, flags: 0x1 | 0x4, family: 2, ifindex: 7 })
    expect([...m.attrs.keys()]).toEqual([1])
  })

  test('fdb replace and append: AF_BRIDGE, self, NOARP|PERMANENT, REPLACE or APPEND', () => {
    const r = decode(fdbAddMessage(9, '02:42:0a:01:02:03', '198.18.0.2', 'replace').bytes(1))
    expect(r).toMatchObject({ type: 28, family: 7, ifindex: 9, state: 0xc0, ndmFlags: 0x02 })
    expect(r.flags).toBe(0x1 | 0x4 | 0x400 | 0x100)
    expect(hex(r.attrs.get(2))).toBe('02:42:0a:01:02:03')
    expect([...r.attrs.get(1)!]).toEqual([198, 18, 0, 2])
    const a = decode(fdbAddMessage(9, '00:00:00:00:00:00', '198.18.0.3', 'append').bytes(1))
    expect(a.flags).toBe(0x1 | 0x4 | 0x400 | 0x800)
  })

  test('fdb del: self without dst (the whole entry), with dst (one flood VTEP), or master', () => {
    const whole = decode(fdbDeleteMessage(9, '02:42:0a:01:02:03').bytes(1))
    expect(whole).toMatchObject({ type: 29, family: 7, ndmFlags: 0x02 })
    expect([...whole.attrs.keys()]).toEqual([2])
    const one = decode(fdbDeleteMessage(9, '00:00:00:00:00:00', { vtep: '198.18.0.3' }).bytes(1))
    expect([...one.attrs.get(1)!]).toEqual([198, 18, 0, 3])
    expect(
      decode(fdbDeleteMessage(9, '02:42:0a:01:02:03', { of: 'master' }).bytes(1)).ndmFlags,
    ).toBe(0x04)
  })
})

describe('tableFrom', () => {
  test('neighbours by address, unicast FDB by MAC, the all-zero MAC as the flood list; bridge-learned entries ignored', () => {
    const t = tableFrom(
      9,
      [
        { dst: '10.1.0.2', dev: 'wfvx1', lladdr: '02:42:0a:01:00:02' },
        { dst: '10.1.0.9', dev: 'wfvx1' },
      ],
      [
        { mac: '02:42:0a:01:00:02', dst: '198.18.0.2', flags: ['self'] },
        { mac: '00:00:00:00:00:00', dst: '198.18.0.2', flags: ['self'] },
        { mac: '00:00:00:00:00:00', dst: '198.18.0.3', flags: ['self'] },
        { mac: '02:42:0a:01:00:07', master: 'wfbr1', flags: [] },
      ],
    )
    expect(t.ifindex).toBe(9)
    expect([...t.neigh]).toEqual([['10.1.0.2', '02:42:0a:01:00:02']])
    expect([...t.fdb]).toEqual([['02:42:0a:01:00:02', ['198.18.0.2']]])
    expect([...t.flood].sort()).toEqual(['198.18.0.2', '198.18.0.3'])
  })
})

describe('asLeft', () => {
  const link = (o: Partial<NlLink>): NlLink => ({
    ifindex: 1,
    ifname: 'x',
    mac: '',
    mtu: 1500,
    up: true,
    ...o,
  })
  const br = link({ ifindex: 10, kind: 'bridge', alias: 'weft:net:1:10.1.0.0/24:1450:' })
  const vx = link({ ifindex: 11, kind: 'vxlan', master: 10 })
  const alias = 'weft:net:1:10.1.0.0/24:1450:'

  test('both devices as this process left them: nothing to do', () => {
    expect(asLeft({ br, vx }, 11, 1500, alias)).toBe(true)
  })

  test('a vxlan device this process never checked, or one re-created since (other ifindex), is read with ip -d', () => {
    expect(asLeft({ br, vx }, undefined, 1500, alias)).toBe(false)
    expect(asLeft({ br, vx }, 12, 1500, alias)).toBe(false)
  })

  test('a missing device, another master, MTU, alias or a device down is not as left', () => {
    expect(asLeft({ vx }, 11, 1500, alias)).toBe(false)
    expect(asLeft({ br }, 11, 1500, alias)).toBe(false)
    expect(asLeft({ br, vx: { ...vx, master: 3 } }, 11, 1500, alias)).toBe(false)
    expect(asLeft({ br, vx }, 11, 9000, alias)).toBe(false)
    expect(asLeft({ br, vx }, 11, 1500, 'weft:net:1:10.1.0.0/24:1400:')).toBe(false)
    expect(asLeft({ br: { ...br, up: false }, vx }, 11, 1500, alias)).toBe(false)
    expect(asLeft({ br: { ...br, kind: 'dummy' }, vx }, 11, 1500, alias)).toBe(false)
  })
})

describe('the kernel read over netlink', () => {
  /** An RTM_NEWNEIGH answer as the kernel sends it. */
  function neighAnswer(o: {
    family: number
    ifindex: number
    state: number
    flags: number
    dst?: number[]
    ll?: number[]
  }): Uint8Array {
    const m = new NetlinkMessage(
      28,
      0,
      (() => {
        const b = new Uint8Array(12)
        const v = new DataView(b.buffer)
        b[0] = o.family
        v.setInt32(4, o.ifindex, true)
        v.setUint16(8, o.state, true)
        b[10] = o.flags
        return b
      })(),
    )
    if (o.dst) m.attr(1, Uint8Array.from(o.dst))
    if (o.ll) m.attr(2, Uint8Array.from(o.ll))
    return m.bytes(1)
  }

  test('parseNeigh reads family, ifindex, state, flags, an IPv4 dst and a MAC', () => {
    const e = parseNeigh(
      neighAnswer({
        family: 7,
        ifindex: 5,
        state: 0xc0,
        flags: 2,
        dst: [198, 18, 0, 2],
        ll: [2, 66, 10, 1, 0, 2],
      }),
    )
    expect(e).toEqual({
      family: 7,
      ifindex: 5,
      state: 0xc0,
      flags: 2,
      dst: '198.18.0.2',
      lladdr: '02:42:0a:01:00:02',
    })
  })

  test('viewFrom names devices by ifindex, keeps permanent neighbours only, marks self FDB entries', () => {
    const link = (ifindex: number, ifname: string, o: Partial<NlLink> = {}): NlLink => ({
      ifindex,
      ifname,
      mac: '',
      mtu: 1500,
      up: true,
      ...o,
    })
    const v = viewFrom(
      [
        link(4, 'wfbr1', { kind: 'bridge', alias: 'a' }),
        link(5, 'wfvx1', { kind: 'vxlan', master: 4 }),
      ],
      [
        {
          family: 2,
          ifindex: 5,
          state: 0x80,
          flags: 0,
          dst: '10.1.0.2',
          lladdr: '02:42:0a:01:00:02',
        },
        {
          family: 2,
          ifindex: 5,
          state: 0x02,
          flags: 0,
          dst: '10.1.0.3',
          lladdr: '02:42:0a:01:00:03',
        },
      ],
      [
        {
          family: 7,
          ifindex: 5,
          state: 0xc0,
          flags: 2,
          dst: '198.18.0.2',
          lladdr: '02:42:0a:01:00:02',
        },
        { family: 7, ifindex: 5, state: 0x02, flags: 0, lladdr: '02:42:0a:01:00:09' },
      ],
    )
    expect(v.links.map((l) => [l.ifname, l.master, l.linkinfo?.info_kind, l.ifalias])).toEqual([
      ['wfbr1', undefined, 'bridge', 'a'],
      ['wfvx1', 'wfbr1', 'vxlan', undefined],
    ])
    expect(v.neighs).toEqual([
      { dst: '10.1.0.2', dev: 'wfvx1', lladdr: '02:42:0a:01:00:02', state: ['PERMANENT'] },
    ])
    expect(v.fdb).toEqual([
      { mac: '02:42:0a:01:00:02', ifname: 'wfvx1', dst: '198.18.0.2', flags: ['self'] },
      { mac: '02:42:0a:01:00:09', ifname: 'wfvx1', flags: [] },
    ])
  })
})
