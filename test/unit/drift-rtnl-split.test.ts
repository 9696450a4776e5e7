// The drift listener's datagram split (pure): with a type filter, only the kept messages come
// out (the listener keeps deletions; the host's creations are not copied or decoded).
import { describe, expect, test } from 'bun:test'
import { encodeRequest, RTM, splitMessages } from '../../src/drift/rtnl.ts'

const ifinfo = (ifindex: number) => {
  const b = new Uint8Array(16)
  new DataView(b.buffer).setInt32(4, ifindex, true)
  return b
}

describe('drift rtnl splitMessages', () => {
  test('a type filter keeps only the messages of its types, in order, bodies intact', () => {
    const msgs = [
      encodeRequest(RTM.NEWLINK, 0, 1, ifinfo(7)),
      encodeRequest(RTM.DELLINK, 0, 2, ifinfo(8)),
      encodeRequest(RTM.NEWTFILTER, 0, 3, ifinfo(9)),
      encodeRequest(RTM.DELTFILTER, 0, 4, ifinfo(10)),
    ]
    const buf = new Uint8Array(msgs.reduce((n, m) => n + m.length, 0))
    let at = 0
    for (const m of msgs) buf.set(m, (at += m.length) - m.length)
    const deletions = new Set<number>([RTM.DELLINK, RTM.DELTFILTER])
    const kept = splitMessages(buf, buf.length, (t) => deletions.has(t))
    expect(kept.map((m) => [m.type, m.seq])).toEqual([
      [RTM.DELLINK, 2],
      [RTM.DELTFILTER, 4],
    ])
    expect(new DataView(kept[1]!.body.buffer, kept[1]!.body.byteOffset).getInt32(4, true)).toBe(10)
    // without a filter, all of them
    expect(splitMessages(buf, buf.length)).toHaveLength(4)
  })
})
