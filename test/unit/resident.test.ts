// Dropping the clean pages of the binary: the ranges (read-only mappings, and of the writable
// data only the .bun section), the page runs pagemap calls clean, the ELF section lookup, and
// for real in this process: RssFile goes down and the process keeps working.
import { describe, expect, test } from 'bun:test'
import { closeSync, openSync, readFileSync, readSync } from 'node:fs'
import {
  binaryRanges,
  cleanRuns,
  dropCleanBinaryPages,
  elfSection,
  mappingsOf,
} from '../../src/embedded/resident.ts'

const MAPS = [
  '00200000-01a39000 r--p 00000000 fe:00 42 /opt/weft',
  '01a40000-0684a000 r-xp 01838000 fe:00 42 /opt/weft',
  '06867000-08000000 rw-p 0665e000 fe:00 42 /opt/weft',
  '08000000-08100000 rw-p 00000000 00:00 0 ',
  '7f0000000000-7f0000100000 r-xp 00000000 fe:00 77 /tmp/.bun-0-abc.node',
  '7f0000200000-7f0000201000 rw-p 00100000 fe:00 77 /tmp/.bun-0-abc.node',
  '7f1000000000-7f1000100000 r-xp 00000000 fe:00 88 /usr/lib/libc.so.6',
].join('\n')

const PRESENT = 1n << 63n
const FILE = 1n << 61n

describe('binary page dropping', () => {
  test('ranges: read-only mappings of the binary and its addon copy, the .bun part of its data', () => {
    // .bun at file offset 0x6660000, 0x100000 bytes: inside the rw-p mapping (offset 0x665e000)
    const r = binaryRanges(MAPS, '/opt/weft', { offset: 0x6660000, size: 0x100000 })
    const hex = r.map(([a, b]) => `${a.toString(16)}-${b.toString(16)}`)
    expect(hex).toEqual([
      '200000-1a39000',
      '1a40000-684a000',
      '6869000-6969000', // 0x6867000 + (0x6660000 - 0x665e000), 1 MB
      '7f0000000000-7f0000100000',
    ])
    // without a .bun section, no writable page is touched
    expect(binaryRanges(MAPS, '/opt/weft', undefined)).toHaveLength(3)
    expect(mappingsOf('/usr/lib/libc.so.6', MAPS)[0]!.perms).toBe('r-xp')
  })

  test("only present pages that are still the file's are dropped", () => {
    const entries = new BigUint64Array([
      PRESENT | FILE,
      PRESENT | FILE,
      PRESENT, // a private copy (written): kept
      0n, // not resident
      PRESENT | FILE,
    ])
    expect(cleanRuns(0x1000, entries)).toEqual([
      [0x1000, 0x2000],
      [0x5000, 0x1000],
    ])
  })

  test("elfSection finds a section of this process's executable from its headers", () => {
    const fd = openSync(process.execPath, 'r')
    try {
      const readAt = (offset: number, length: number) => {
        const b = new Uint8Array(length)
        return b.subarray(0, readSync(fd, b, 0, length, offset))
      }
      const text = elfSection(readAt, '.text')
      expect(text?.size).toBeGreaterThan(1 << 20)
      expect(elfSection(readAt, '.no-such-section')).toBeUndefined()
      expect(elfSection(() => new Uint8Array(64), '.text')).toBeUndefined() // not ELF
    } finally {
      closeSync(fd)
    }
  })

  test('on a fake libc: what madvise refuses is not counted, and nothing is dropped', () => {
    const rssFile = () =>
      Number(readFileSync('/proc/self/status', 'utf8').match(/^RssFile:\s+(\d+) kB/m)![1])
    const advised: number[] = []
    const refused = dropCleanBinaryPages({ madvise: (_a, len) => (advised.push(len), -1) })
    expect(refused).toBe(0)
    expect(advised.length).toBeGreaterThan(0)
    expect(advised.every((len) => len > 0 && len % 4096 === 0)).toBe(true)
    const before = rssFile()
    const counted = dropCleanBinaryPages({ madvise: () => 0 })
    expect(counted).toBeGreaterThan(1 << 20)
    // the fake advised nothing away: the pages are still resident (10 MB of slack for churn)
    expect(rssFile()).toBeGreaterThan(before - 10_240)
  })

  test('for real: the resident file pages of this process go down, and it keeps running', () => {
    const rssFile = () =>
      Number(readFileSync('/proc/self/status', 'utf8').match(/^RssFile:\s+(\d+) kB/m)![1])
    const before = rssFile()
    const dropped = dropCleanBinaryPages()
    const after = rssFile()
    expect(dropped).toBeGreaterThan(1 << 20)
    expect(after).toBeLessThan(before)
    // code and data of the runtime come back on use
    expect(JSON.parse(JSON.stringify({ a: [1, 2, 3] }))).toEqual({ a: [1, 2, 3] })
    expect(new TextDecoder().decode(new TextEncoder().encode('weft'))).toBe('weft')
  })
})
