// The rtnetlink messages host plumbing sends, byte for byte, and the parsers for the kernel's
// answers: pure code, no root. (The same messages against the real kernel: test/net/netlink.test.ts.)
import { describe, expect, test } from 'bun:test'
import { ValidationError } from '../../src/errors/index.ts'
import {
  AF_INET,
  AF_INET6,
  attrs,
  createVethMessage,
  deleteAddressMessage,
  deleteLinkMessage,
  dumpAddressesMessage,
  getLinkMessage,
  IFA_ADDRESS,
  IFA_LOCAL,
  IFF_UP,
  IFLA_ADDRESS,
  IFLA_AF_SPEC,
  IFLA_EXT_MASK,
  IFLA_IFALIAS,
  IFLA_IFNAME,
  IFLA_INET6_ADDR_GEN_MODE,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_LINK,
  IFLA_LINKINFO,
  IFLA_MASTER,
  IFLA_MTU,
  IFLA_NET_NS_FD,
  ifaddrmsg,
  ifinfomsg,
  NetlinkMessage,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_ECHO,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  parseAddress,
  parseError,
  parseLink,
  replaceAddressMessage,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_SETLINK,
  setLinkMessage,
  splitMessages,
  VETH_INFO_PEER,
} from '../../src/net/netlink-message.ts'
import { ack } from './netlink-fake-libc.ts'

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength)
const header = (b: Uint8Array) => ({
  len: view(b).getUint32(0, true),
  type: view(b).getUint16(4, true),
  flags: view(b).getUint16(6, true),
  seq: view(b).getUint32(8, true),
})
const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b)
const u32 = (b: Uint8Array | undefined) => view(b!).getUint32(0, true)
/** Attributes after the 16-byte header and a fixed family header of `fixed` bytes. */
const top = (b: Uint8Array, fixed: number) => attrs(b, 16 + fixed)

describe('requests', () => {
  test('create veth: the peer is made inside the sandbox (netns fd) with its MAC and MTU, the host end enslaved', () => {
    const b = createVethMessage({
      name: 'wf0123456789',
      mtu: 1500,
      master: 42,
      peer: { name: 'eth0', netnsFd: 9, mac: '02:42:0a:00:01:02', mtu: 1450 },
    }).bytes(7)
    expect(header(b)).toEqual({
      len: b.length,
      type: RTM_NEWLINK,
      // echoed: the answer carries the new link, so plumbing reads nothing back
      flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO,
      seq: 7,
    })
    const a = top(b, 16)
    expect(text(a.get(IFLA_IFNAME))).toBe('wf0123456789\0')
    expect(u32(a.get(IFLA_MTU))).toBe(1500)
    expect(u32(a.get(IFLA_MASTER))).toBe(42)
    const info = attrs(a.get(IFLA_LINKINFO)!, 0)
    expect(text(info.get(IFLA_INFO_KIND))).toBe('veth\0')
    const peerNest = attrs(info.get(IFLA_INFO_DATA)!, 0).get(VETH_INFO_PEER)!
    expect([...peerNest.subarray(0, 16)]).toEqual([...ifinfomsg()]) // the peer nest starts with its own ifinfomsg
    const peer = attrs(peerNest, 16)
    expect(text(peer.get(IFLA_IFNAME))).toBe('eth0\0')
    expect(u32(peer.get(IFLA_NET_NS_FD))).toBe(9)
    expect([...peer.get(IFLA_ADDRESS)!]).toEqual([0x02, 0x42, 0x0a, 0x00, 0x01, 0x02])
    expect(u32(peer.get(IFLA_MTU))).toBe(1450)
  })

  test('attribute lengths count the payload unpadded; payloads are padded to 4 bytes', () => {
    const b = new NetlinkMessage(RTM_GETLINK, 0, ifinfomsg())
      .str(IFLA_IFNAME, 'eth0')
      .u32(IFLA_MTU, 1)
      .bytes(1)
    expect(view(b).getUint16(32, true)).toBe(4 + 5) // "eth0\0"
    expect(view(b).getUint16(32 + 12, true)).toBe(8) // the next attribute starts after 3 bytes of padding
    expect(b.length).toBe(16 + 16 + 12 + 8)
  })

  test('set link: by name or ifindex; up sets IFF_UP in flags and change; always addrgenmode none', () => {
    const byName = setLinkMessage('eth0', {
      mac: '02:42:0a:00:01:02',
      mtu: 1450,
      alias: 'weft:ep:1:10.0.1.2',
      master: 5,
      up: true,
    }).bytes(3)
    expect(header(byName)).toMatchObject({ type: RTM_SETLINK, flags: NLM_F_REQUEST | NLM_F_ACK })
    expect(view(byName).getInt32(20, true)).toBe(0)
    expect(view(byName).getUint32(24, true)).toBe(IFF_UP)
    expect(view(byName).getUint32(28, true)).toBe(IFF_UP)
    const a = top(byName, 16)
    expect(text(a.get(IFLA_IFNAME))).toBe('eth0\0')
    expect(u32(a.get(IFLA_MTU))).toBe(1450)
    expect(u32(a.get(IFLA_MASTER))).toBe(5)
    expect(text(a.get(IFLA_IFALIAS))).toBe('weft:ep:1:10.0.1.2\0')
    const inet6 = attrs(a.get(IFLA_AF_SPEC)!, 0).get(AF_INET6)!
    expect([...attrs(inet6, 0).get(IFLA_INET6_ADDR_GEN_MODE)!]).toEqual([1]) // IN6_ADDR_GEN_MODE_NONE

    const byIndex = setLinkMessage(12, {}).bytes(4)
    expect(view(byIndex).getInt32(20, true)).toBe(12)
    expect(view(byIndex).getUint32(28, true)).toBe(0) // not up: no flag changed
    expect(top(byIndex, 16).has(IFLA_IFNAME)).toBe(false)
    expect([...top(byIndex, 16).keys()]).toEqual([IFLA_AF_SPEC])
  })

  test('get and delete link; get skips the statistics', () => {
    const get = getLinkMessage('wf0123456789').bytes(1)
    expect(header(get)).toMatchObject({ type: RTM_GETLINK, flags: NLM_F_REQUEST | NLM_F_ACK })
    expect(u32(top(get, 16).get(IFLA_EXT_MASK))).toBe(1 << 3) // RTEXT_FILTER_SKIP_STATS
    const del = deleteLinkMessage('wf0123456789').bytes(2)
    expect(header(del)).toMatchObject({ type: RTM_DELLINK, flags: NLM_F_REQUEST | NLM_F_ACK })
    expect(text(top(del, 16).get(IFLA_IFNAME))).toBe('wf0123456789\0')
  })

  test('addresses: replace and delete carry family, prefix, ifindex and the address; the dump asks for no ACK', () => {
    const rep = replaceAddressMessage(3, '10.0.1.2', 24).bytes(1)
    expect(header(rep)).toMatchObject({
      type: RTM_NEWADDR,
      flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
    })
    expect([...rep.subarray(16, 24)]).toEqual([...ifaddrmsg(AF_INET, 24, 3)])
    expect([...top(rep, 8).get(IFA_LOCAL)!]).toEqual([10, 0, 1, 2])
    expect([...top(rep, 8).get(IFA_ADDRESS)!]).toEqual([10, 0, 1, 2])
    const del = deleteAddressMessage(3, '10.0.9.9', 16).bytes(2)
    expect(header(del)).toMatchObject({ type: RTM_DELADDR, flags: NLM_F_REQUEST | NLM_F_ACK })
    expect(del[17]).toBe(16)
    const dump = dumpAddressesMessage().bytes(3)
    expect(header(dump)).toMatchObject({ type: RTM_GETADDR, flags: NLM_F_REQUEST | NLM_F_DUMP })
    expect(dump[16]).toBe(AF_INET)
  })

  test('bad input and misuse are errors, not malformed messages', () => {
    expect(() => replaceAddressMessage(3, '10.0.1.300', 24)).toThrow(ValidationError)
    expect(() => new NetlinkMessage(RTM_NEWLINK, 0, ifinfomsg()).end()).toThrow(/without begin/)
    expect(() =>
      new NetlinkMessage(RTM_NEWLINK, 0, ifinfomsg()).begin(IFLA_LINKINFO).bytes(1),
    ).toThrow(/still open/)
  })
})

describe('answers', () => {
  // A kernel answer has the same layout as a request: build them with the same builder.
  const linkAnswer = () =>
    new NetlinkMessage(RTM_NEWLINK, 0, ifinfomsg({ index: 7, flags: IFF_UP }))
      .str(IFLA_IFNAME, 'wf0123456789')
      .attr(IFLA_ADDRESS, Uint8Array.of(2, 0x42, 10, 0, 1, 2))
      .u32(IFLA_MTU, 1500)
      .u32(IFLA_LINK, 2)
      .u32(IFLA_MASTER, 4)
      .str(IFLA_IFALIAS, 'weft:ep:1:10.0.1.2')
      .begin(IFLA_LINKINFO)
      .str(IFLA_INFO_KIND, 'veth')
      .end()
      .bytes(9)

  test('a link: index, name, MAC, MTU, peer, master, kind, alias, up', () => {
    expect(parseLink(linkAnswer())).toEqual({
      ifindex: 7,
      ifname: 'wf0123456789',
      mac: '02:42:0a:00:01:02',
      mtu: 1500,
      link: 2,
      master: 4,
      kind: 'veth',
      alias: 'weft:ep:1:10.0.1.2',
      up: true,
    })
    const bare = parseLink(
      new NetlinkMessage(RTM_NEWLINK, 0, ifinfomsg({ index: 1 })).str(IFLA_IFNAME, 'lo').bytes(1),
    )
    expect(bare).toEqual({ ifindex: 1, ifname: 'lo', mac: '', mtu: 0, up: false })
  })

  test('an IPv4 address; other families are skipped', () => {
    const v4 = new NetlinkMessage(RTM_NEWADDR, 0, ifaddrmsg(AF_INET, 24, 7))
      .attr(IFA_ADDRESS, Uint8Array.of(10, 0, 1, 2))
      .bytes(1)
    expect(parseAddress(v4)).toEqual({ ifindex: 7, ip: '10.0.1.2', prefixLen: 24 })
    const v6 = new NetlinkMessage(RTM_NEWADDR, 0, ifaddrmsg(AF_INET6, 64, 7))
      .attr(IFA_ADDRESS, new Uint8Array(16))
      .bytes(1)
    expect(parseAddress(v6)).toBeUndefined()
  })

  test('errors: the ACK is errno 0; a refusal carries its errno and the extended-ack message', () => {
    const req = getLinkMessage('eth0').bytes(5)
    const ok = ack(req)
    expect(parseError(ok, header(ok).flags)).toEqual({ errno: 0 })
    const refused = ack(req, 22, 'Invalid MTU')
    expect(parseError(refused, header(refused).flags)).toEqual({
      errno: 22,
      message: 'Invalid MTU',
    })
  })

  test('several messages in one datagram are split; a truncated tail is dropped', () => {
    const a = linkAnswer()
    const two = new Uint8Array(a.length * 2 + 10)
    two.set(a, 0)
    two.set(a, a.length)
    const parts = splitMessages(two, a.length * 2 + 10)
    expect(parts.map((p) => [p.type, p.seq, p.bytes.length])).toEqual([
      [RTM_NEWLINK, 9, a.length],
      [RTM_NEWLINK, 9, a.length],
    ])
    expect(splitMessages(two, a.length + 20)).toHaveLength(1)
  })
})
