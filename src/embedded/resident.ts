// Drop the pages of weft's own binary that only start-up read. A compiled Bun binary is
// ~130 MB: the runtime's code, and the embedded module graph (bundle, bytecode, the libSQL
// addon copied out at start, BPF objects). Start-up reads most of it once; those pages stay in
// the process's resident set (60-70 MB of an agent's RSS, measured with bench/rss.ts) although
// nothing touches them again. They are clean file pages: the kernel may drop them at any time
// and fault them back from the page cache, so dropping them here loses nothing, and what the
// agent keeps running (its hot code) comes back on first touch.
//
// Only pages that are present and still the file's (not copied on write: those hold data the
// process changed, which MADV_DONTNEED on a private mapping would throw away) are dropped;
// /proc/self/pagemap says which is which.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs'
import { getLibc, type Libc } from '../sys/index.ts'

const PAGE = 4096
const MADV_DONTNEED = 4
const PRESENT = 1n << 63n
/** pagemap: the page is a file page or shared anonymous (not a private copy). */
const FILE_OR_SHARED = 1n << 61n

export interface Mapping {
  start: number
  end: number
  perms: string
  /** file offset the mapping starts at */
  offset: number
  path: string
}

/** Reads `length` bytes of a file at `offset`. */
export type ReadAt = (offset: number, length: number) => Uint8Array

/**
 * File offset and size of an ELF64 section (".bun": Bun's embedded module graph), read from
 * the headers only; undefined when the file is not ELF64 or has no such section.
 */
export function elfSection(
  readAt: ReadAt,
  name: string,
): { offset: number; size: number } | undefined {
  const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength)
  const eh = readAt(0, 64)
  const e = view(eh)
  if (eh.length < 64 || e.getUint32(0) !== 0x7f454c46 || eh[4] !== 2) return undefined
  const shoff = Number(e.getBigUint64(0x28, true))
  const shentsize = e.getUint16(0x3a, true)
  const shnum = e.getUint16(0x3c, true)
  const shstrndx = e.getUint16(0x3e, true)
  const table = readAt(shoff, shnum * shentsize)
  const t = view(table)
  if (table.length < shnum * shentsize || shstrndx >= shnum) return undefined
  const field = (i: number, at: number) => Number(t.getBigUint64(i * shentsize + at, true))
  const names = readAt(field(shstrndx, 0x18), field(shstrndx, 0x20))
  const want = new TextEncoder().encode(name + '\0')
  for (let i = 0; i < shnum; i++) {
    const at = t.getUint32(i * shentsize, true)
    if (want.every((c, k) => names[at + k] === c))
      return { offset: field(i, 0x18), size: field(i, 0x20) }
  }
  return undefined
}

/** The mappings of `path` in /proc/self/maps (its text, read-only data and data segments). */
export function mappingsOf(
  path: string,
  maps = readFileSync('/proc/self/maps', 'utf8'),
): Mapping[] {
  const out: Mapping[] = []
  for (const line of maps.split('\n')) {
    const m = line.match(/^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) \S+ \S+\s+(.+)$/)
    if (m && m[5] === path)
      out.push({
        start: parseInt(m[1]!, 16),
        end: parseInt(m[2]!, 16),
        perms: m[3]!,
        offset: parseInt(m[4]!, 16),
        path,
      })
  }
  return out
}

/**
 * Runs of pages (start address, length) in [start, end) that are present and the file's own,
 * from the 8-byte pagemap entries of that range.
 */
export function cleanRuns(start: number, entries: BigUint64Array): [number, number][] {
  const runs: [number, number][] = []
  let runStart = -1
  for (let i = 0; i <= entries.length; i++) {
    const e = i < entries.length ? entries[i]! : 0n
    const clean = (e & PRESENT) !== 0n && (e & FILE_OR_SHARED) !== 0n
    if (clean && runStart < 0) runStart = i
    if (!clean && runStart >= 0) {
      runs.push([start + runStart * PAGE, (i - runStart) * PAGE])
      runStart = -1
    }
  }
  return runs
}

/**
 * Address ranges to drop: the read-only mappings (code, constants) of the binary and of the
 * libSQL addon Bun copied out of it, and of the binary's writable data only its ".bun" section
 * (the module graph: read, never written, after start-up). Other writable pages are left
 * alone: another thread could write one between the pagemap read and the madvise.
 */
export function binaryRanges(
  maps: string,
  execPath: string,
  bunSection: { offset: number; size: number } | undefined,
): [number, number][] {
  const paths = new Set([execPath])
  for (const m of maps.matchAll(/\s(\/\S*\/\.bun-[^\s/]+\.node)$/gm)) paths.add(m[1]!)
  const ranges: [number, number][] = []
  for (const path of paths)
    for (const m of mappingsOf(path, maps)) {
      if (m.perms[1] !== 'w') ranges.push([m.start, m.end])
      else if (path === execPath && bunSection) {
        const from = m.start + bunSection.offset - m.offset
        const lo = Math.max(m.start, Math.ceil(from / PAGE) * PAGE)
        const hi = Math.min(m.end, Math.floor((from + bunSection.size) / PAGE) * PAGE)
        if (hi > lo) ranges.push([lo, hi])
      }
    }
  return ranges
}

/**
 * Drop the clean resident pages of this process's start-up ranges (binaryRanges). Returns
 * the bytes advised away. Best effort: a range it cannot read is left as it is (the process
 * is only bigger, never wrong).
 */
export function dropCleanBinaryPages(libc: Pick<Libc, 'madvise'> = getLibc()): number {
  const exe = openSync(process.execPath, 'r')
  let bunSection: { offset: number; size: number } | undefined
  try {
    bunSection = elfSection((offset, length) => {
      const b = new Uint8Array(length)
      return b.subarray(0, readSync(exe, b, 0, length, offset))
    }, '.bun')
  } finally {
    closeSync(exe)
  }
  const ranges = binaryRanges(readFileSync('/proc/self/maps', 'utf8'), process.execPath, bunSection)
  const pagemap = openSync('/proc/self/pagemap', 'r')
  let dropped = 0
  try {
    for (const [start, end] of ranges) {
      const entries = new BigUint64Array((end - start) / PAGE)
      const bytes = new Uint8Array(entries.buffer)
      if (readSync(pagemap, bytes, 0, bytes.length, (start / PAGE) * 8) !== bytes.length) continue
      for (const [addr, len] of cleanRuns(start, entries))
        if (libc.madvise(addr, len, MADV_DONTNEED) === 0) dropped += len
    }
  } finally {
    closeSync(pagemap)
  }
  return dropped
}
