// src/bpf against the real kernel: load the counting program from bytes, attach it inside a
// private namespace pair, send real pings, read per-CPU counters, pin and re-adopt (the start
// of live restore), and check that every failure names what went wrong. Also where libbpf
// itself is loaded from: the embedded copy through a sealed memfd, never a file in /tmp.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  BpfError,
  PerCpuMap,
  TypedMap,
  adoptPinnedLink,
  attach,
  linkInfo,
  openObject,
  openPinnedMap,
  removePinDir,
  struct,
  sumCounters,
  tcxSupported,
  u32,
  u64,
  withNetns,
  type LoadedObject,
  type TcAttachment,
} from '../../src/bpf/index.ts'
import { libbpfBytes, sha256 } from '../../src/embedded/index.ts'
import { NotSupportedError } from '../../src/errors/index.ts'
import { RtnlSocket } from '../../src/net/netlink.ts'
import { getSys } from '../../src/sys/index.ts'
import { mustRunIn, ping, run, runIn, waitFor } from '../harness/index.ts'
import {
  createVethPair,
  leftoverNamespaces,
  newPrefix,
  requireRoot,
  testObjectBytes,
  type VethPair,
} from './fixture.ts'

requireRoot()

/** struct counters in bpf/test/count.bpf.c. */
const countersCodec = struct<{ packets: bigint; bytes: bigint }>(16, {
  packets: { offset: 0, codec: u64 },
  bytes: { offset: 8, codec: u64 },
})

const prefix = newPrefix()
const pinDir = `/sys/fs/bpf/weft-test-${prefix}`
const linkPin = join(pinDir, 'link_v0_ingress')
let net: VethPair
// Teardown in reverse order of setup, also when a test failed half-way.
const cleanups: (() => void)[] = []

function countOf(map: PerCpuMap<number, { packets: bigint; bytes: bigint }>) {
  return sumCounters(map.lookup(0) ?? [])
}

async function pingAtoB(count: number) {
  const r = await ping(net.b.ns, net.a.ip, { count, intervalS: 0.05 })
  expect(r.received).toBe(count)
}

beforeAll(async () => {
  net = await createVethPair(prefix)
})

afterAll(async () => {
  const errors: unknown[] = []
  for (const c of cleanups.reverse()) {
    try {
      c()
    } catch (e) {
      errors.push(e)
    }
  }
  await net?.destroy()
  removePinDir(pinDir)
  expect(await leftoverNamespaces(prefix)).toEqual([])
  expect(existsSync(pinDir)).toBe(false)
  if (errors.length) throw errors[0]
})

describe('tcx attach inside a namespace', () => {
  let obj: LoadedObject
  let link: TcAttachment

  test('loads the counting program from bytes and pins its maps', () => {
    const spec = openObject(testObjectBytes('count'), { name: 'count' })
    expect(spec.programs).toEqual(['count_pkts'])
    expect(spec.maps.map((m) => m.name)).toEqual(['wt_counts', 'wt_scratch', 'count.rodata'])
    spec.pinMaps(pinDir)
    obj = spec.load()
    cleanups.push(() => obj.close())
    expect(obj.pinnedMaps).toEqual(['wt_counts', 'wt_scratch']) // not .rodata: per-object data
    expect(obj.adoptedMaps).toEqual([])
    expect(existsSync(join(pinDir, 'wt_counts'))).toBe(true)
  })

  test('counts real pings arriving on a tcx ingress link', async () => {
    link = withNetns(net.a.path, () =>
      attach({ program: obj.program('count_pkts'), iface: net.a.ifname, direction: 'ingress' }),
    )
    cleanups.push(() => link.close())
    expect(link.kind).toBe('tcx')
    const counts = new PerCpuMap(obj.map('wt_counts'), u32, countersCodec)
    expect(countOf(counts).packets).toBe(0n)

    await pingAtoB(5)
    const c = await waitFor(() => (countOf(counts).packets >= 5n ? countOf(counts) : undefined), {
      what: 'wt_counts to reach 5 packets',
    })
    // Each echo request is 98 bytes on the wire (14 eth + 20 ip + 8 icmp + 56 payload).
    expect(c.bytes).toBeGreaterThanOrEqual(5n * 98n)
    expect(counts.lookup(0)).toHaveLength(counts.cpus)
  })

  test('a pinned link and pinned map keep counting after every handle in this process is closed', async () => {
    link.pin(linkPin)
    link.close()
    obj.close()

    const pinned = openPinnedMap(join(pinDir, 'wt_counts'))
    cleanups.push(() => pinned.close())
    const counts = new PerCpuMap(pinned, u32, countersCodec)
    const before = countOf(counts).packets
    expect(before).toBeGreaterThanOrEqual(5n)

    await pingAtoB(3)
    await waitFor(() => countOf(counts).packets >= before + 3n, {
      what: 'the pinned map to count 3 more packets',
    })
  })

  test('a second load adopts the pinned maps and takes over the pinned link with its own program', async () => {
    const obj2 = openObject(testObjectBytes('count'), { name: 'count' }).pinMaps(pinDir).load()
    cleanups.push(() => obj2.close())
    expect([...obj2.adoptedMaps].sort()).toEqual(['wt_counts', 'wt_scratch'])
    const counts = new PerCpuMap(obj2.map('wt_counts'), u32, countersCodec)
    const before = countOf(counts).packets
    expect(before).toBeGreaterThanOrEqual(8n) // the same kernel map: the count survived

    const adopted = adoptPinnedLink(linkPin)
    cleanups.push(() => adopted.close())
    expect(adopted.direction).toBe('ingress')
    const oldProg = linkInfo(adopted).progId
    adopted.replaceProgram(obj2.program('count_pkts'))
    expect(linkInfo(adopted).progId).not.toBe(oldProg)

    await pingAtoB(2)
    await waitFor(() => countOf(counts).packets >= before + 2n, {
      what: 'the new program to count into the adopted map',
    })
    link = adopted
  })

  test('detach stops counting; unpin and removePinDir leave no pins', async () => {
    const pinned = openPinnedMap(join(pinDir, 'wt_counts'))
    cleanups.push(() => pinned.close())
    const counts = new PerCpuMap(pinned, u32, countersCodec)

    link.detach()
    const after = countOf(counts).packets
    await pingAtoB(3)
    expect(countOf(counts).packets).toBe(after)

    expect(link.unpin()).toBe(true)
    expect(existsSync(linkPin)).toBe(false)
    expect(removePinDir(pinDir)).toBe(true)
    expect(existsSync(pinDir)).toBe(false)
    // The open fd still works after its pin is gone; the map dies with the last fd.
    expect(countOf(counts).packets).toBe(after)
  })
})

describe('legacy tc (clsact) attach', () => {
  test('counts egress packets through a clsact filter and detaches cleanly', async () => {
    const obj = openObject(testObjectBytes('count'), { name: 'count' }).load()
    cleanups.push(() => obj.close())
    const filter = withNetns(net.b.path, () =>
      attach({
        program: obj.program('count_pkts'),
        iface: net.b.ifname,
        direction: 'egress',
        mode: 'tc',
      }),
    )
    cleanups.push(() => withNetns(net.b.path, () => filter.close()))
    expect(filter.kind).toBe('tc')
    const shown = await mustRunIn(net.b.ns, ['tc', 'filter', 'show', 'dev', net.b.ifname, 'egress'])
    expect(shown.stdout).toContain('count_pkts')
    expect(() => filter.pin(join(pinDir, 'nope'))).toThrow(/cannot be pinned/)

    const counts = new PerCpuMap(obj.map('wt_counts'), u32, countersCodec)
    await pingAtoB(4)
    await waitFor(() => countOf(counts).packets >= 4n, { what: 'egress count of 4' })

    withNetns(net.b.path, () => filter.detach())
    const gone = await runIn(net.b.ns, ['tc', 'filter', 'show', 'dev', net.b.ifname, 'egress'])
    expect(gone.stdout).not.toContain('count_pkts')
  })
})

describe('tc (clsact) attach over an rtnetlink socket of our own', () => {
  test('qdisc and filter in one send: counts ingress packets, replaces in place, EEXIST named, detaches', async () => {
    const obj = openObject(testObjectBytes('count'), { name: 'count' }).load()
    cleanups.push(() => obj.close())
    const rtnl = RtnlSocket.open(net.b.path)
    cleanups.push(() => rtnl.close())
    const ifindex = withNetns(net.b.path, () => getSys().ifNameToIndex(net.b.ifname))
    const opts = {
      program: obj.program('count_pkts'),
      iface: ifindex,
      direction: 'ingress' as const,
      mode: 'tc' as const,
      rtnl,
    }
    const filter = attach(opts)
    cleanups.push(() => withNetns(net.b.path, () => filter.close()))
    expect(filter.kind).toBe('tc')
    const show = () => mustRunIn(net.b.ns, ['tc', 'filter', 'show', 'dev', net.b.ifname, 'ingress'])
    expect((await show()).stdout).toMatch(/bpf chain 0 handle 0x1 count_pkts direct-action/)

    const counts = new PerCpuMap(obj.map('wt_counts'), u32, countersCodec)
    await pingAtoB(4)
    await waitFor(() => countOf(counts).packets >= 4n, { what: 'ingress count of 4' })

    // the qdisc is there now (EEXIST is fine); a second filter at the same place is refused...
    const taken = catchError(() => attach(opts))
    expect(taken).toBeInstanceOf(BpfError)
    expect(taken.message).toContain('a filter already exists at handle 1 priority 1')
    // ...and replaced in place when asked
    attach({ ...opts, replace: true })
    expect((await show()).stdout.match(/ handle 0x1 /g)?.length).toBe(1)

    withNetns(net.b.path, () => filter.detach())
    expect((await show()).stdout).not.toContain('count_pkts')
    const missing = catchError(() => attach({ ...opts, iface: 999_999 }))
    expect(missing.message).toContain('does not exist in this network namespace')
  })
})

describe("tc attach under an ingress qdisc (one tc block per device, not clsact's two)", () => {
  test('makes an ingress qdisc, counts ingress packets, detaches; an existing clsact is used as it is', async () => {
    const obj = openObject(testObjectBytes('count'), { name: 'count' }).load()
    cleanups.push(() => obj.close())
    const rtnl = RtnlSocket.open(net.b.path)
    cleanups.push(() => rtnl.close())
    const ifindex = withNetns(net.b.path, () => getSys().ifNameToIndex(net.b.ifname))
    const qdiscs = async () =>
      (await mustRunIn(net.b.ns, ['tc', 'qdisc', 'show', 'dev', net.b.ifname])).stdout
    // an earlier test may have left its clsact: start from a device without one
    await runIn(net.b.ns, ['tc', 'qdisc', 'del', 'dev', net.b.ifname, 'clsact'])
    const opts = {
      program: obj.program('count_pkts'),
      iface: ifindex,
      direction: 'ingress' as const,
      mode: 'tc' as const,
      rtnl,
      qdisc: 'ingress' as const,
    }
    const filter = attach(opts)
    cleanups.push(() => withNetns(net.b.path, () => filter.close()))
    expect(await qdiscs()).toMatch(/qdisc ingress ffff: parent ffff:fff1/)
    expect(await qdiscs()).not.toContain('clsact')
    const show = () => mustRunIn(net.b.ns, ['tc', 'filter', 'show', 'dev', net.b.ifname, 'ingress'])
    expect((await show()).stdout).toMatch(/bpf chain 0 handle 0x1 count_pkts direct-action/)
    const counts = new PerCpuMap(obj.map('wt_counts'), u32, countersCodec)
    const before = countOf(counts).packets
    await pingAtoB(3)
    await waitFor(() => countOf(counts).packets >= before + 3n, { what: 'ingress count of 3' })
    withNetns(net.b.path, () => filter.detach())
    expect((await show()).stdout).not.toContain('count_pkts')

    // a device that has a clsact (an older agent's veth): EEXIST, and the filter goes under it
    await mustRunIn(net.b.ns, ['tc', 'qdisc', 'del', 'dev', net.b.ifname, 'ingress'])
    await mustRunIn(net.b.ns, ['tc', 'qdisc', 'add', 'dev', net.b.ifname, 'clsact'])
    const again = attach(opts)
    cleanups.push(() => withNetns(net.b.path, () => again.close()))
    expect(await qdiscs()).toMatch(/qdisc clsact ffff:/)
    expect((await show()).stdout).toMatch(/count_pkts direct-action/)
    withNetns(net.b.path, () => again.detach())
  })

  test('refused for egress, and without an rtnetlink socket: nothing is made', async () => {
    const obj = openObject(testObjectBytes('count'), { name: 'count' }).load()
    cleanups.push(() => obj.close())
    const rtnl = RtnlSocket.open(net.b.path)
    cleanups.push(() => rtnl.close())
    const ifindex = withNetns(net.b.path, () => getSys().ifNameToIndex(net.b.ifname))
    const base = { program: obj.program('count_pkts'), iface: ifindex, mode: 'tc' as const }
    const egress = catchError(() =>
      attach({ ...base, direction: 'egress', rtnl, qdisc: 'ingress' }),
    )
    expect(egress.message).toContain('an ingress qdisc holds ingress filters only')
    const noSocket = catchError(() => attach({ ...base, direction: 'ingress', qdisc: 'ingress' }))
    expect(noSocket.message).toContain('pass rtnl')
    const filters = await mustRunIn(net.b.ns, [
      'tc',
      'filter',
      'show',
      'dev',
      net.b.ifname,
      'egress',
    ])
    expect(filters.stdout).not.toContain('count_pkts')
  })
})

describe('errors name what failed', () => {
  test('bad object bytes', () => {
    const err = catchError(() =>
      openObject(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 1, 2, 3]), { name: 'junk' }),
    )
    expect(err).toBeInstanceOf(BpfError)
    expect(err.code).toBe('E_BPF')
    expect(err.message).toContain('open BPF object junk')
    expect(err.message).toMatch(/not a valid BPF ELF object/)
  })

  test('a program the verifier rejects: the error carries the verifier log', () => {
    const err = catchError(() => openObject(testObjectBytes('reject'), { name: 'reject' }).load())
    expect(err.message).toContain('load BPF object reject')
    expect(err.message).toContain('verifier rejected')
    expect(err.message).toMatch(/invalid access to packet|R\d+ invalid mem access/)
  })

  test('attach to a missing interface names it', () => {
    const obj = openObject(testObjectBytes('count'), { name: 'count' }).load()
    try {
      const err = catchError(() =>
        withNetns(net.a.path, () =>
          attach({ program: obj.program('count_pkts'), iface: 'eth9', direction: 'ingress' }),
        ),
      )
      expect(err.message).toContain('interface eth9 does not exist')
      expect((err as BpfError).errnoName).toBe('ENODEV')
      const byIndex = catchError(() =>
        attach({ program: obj.program('count_pkts'), iface: 99999, direction: 'egress' }),
      )
      expect(byIndex.message).toMatch(/ifindex 99999.*ENODEV/)
    } finally {
      obj.close()
    }
  })

  test('a missing map or program lists the ones that exist', () => {
    const obj = openObject(testObjectBytes('count'), { name: 'count' }).load()
    try {
      expect(catchError(() => obj.map('vx_peers')).message).toContain(
        'the object has: wt_counts, wt_scratch, count.rodata',
      )
      expect(catchError(() => obj.program('nope')).message).toContain('the object has: count_pkts')
    } finally {
      obj.close()
    }
    expect(catchError(() => obj.map('wt_counts')).message).toContain('closed')
  })

  test('a typed map whose key codec does not match the kernel key size', () => {
    const obj = openObject(testObjectBytes('count'), { name: 'count' }).load()
    try {
      const err = catchError(() => new TypedMap(obj.map('wt_scratch'), u64, u64))
      expect(err.message).toContain('open typed map wt_scratch')
      expect(err.message).toContain('key codec is 8 bytes, kernel map key is 4')
      expect(
        catchError(() => new TypedMap(obj.map('wt_counts'), u32, countersCodec)).message,
      ).toContain('use PerCpuMap')
    } finally {
      obj.close()
    }
  })

  test('a pinned map with a different shape is refused at load', () => {
    const dir = `${pinDir}-shape`
    cleanups.push(() => removePinDir(dir))
    openObject(testObjectBytes('count'), { name: 'count' }).pinMaps(dir).load().close()
    const err = catchError(() =>
      openObject(testObjectBytes('count'), { name: 'count' })
        .setMaxEntries('wt_scratch', 128)
        .pinMaps(dir)
        .load(),
    )
    expect(err.message).toContain('a pinned map differs from the object')
    expect(removePinDir(dir)).toBe(true)
  })

  test('opening a pin that does not exist', () => {
    const err = catchError(() => openPinnedMap(`${pinDir}-missing/wt_counts`))
    expect(err.message).toMatch(/open pinned map .*: ENOENT/)
    expect(catchError(() => adoptPinnedLink(`${pinDir}-missing/link`)).message).toMatch(/ENOENT/)
  })

  test('tcx support follows the kernel version; older kernels get a NotSupportedError', () => {
    expect(tcxSupported('6.1.0-18-amd64')).toBe(false)
    expect(tcxSupported('6.6.0')).toBe(true)
    expect(tcxSupported('6.18.44-fc-v669')).toBe(true)
    // What attach() throws when link_create fails on a kernel < 6.6 (this kernel has tcx).
    expect(new NotSupportedError('tcx', '6.6').message).toBe(
      'tcx not supported (requires Linux >= 6.6)',
    )
  })
})

describe('where libbpf is loaded from', () => {
  const repo = join(import.meta.dir, '..', '..')
  let dir: string

  /** Run a child process that loads libbpf the way weft does and reports what it mapped. */
  async function loadInChild(env: Record<string, string>) {
    const script = join(dir, 'load.ts')
    writeFileSync(
      script,
      [
        `import { readFileSync } from 'node:fs'`,
        `import { libbpfInfo } from ${JSON.stringify(join(repo, 'src/sys/index.ts'))}`,
        `const info = libbpfInfo()`,
        `const maps = readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => /libbpf|weft-lib|planted/.test(l))`,
        `console.log(JSON.stringify({ info, files: [...new Set(maps.map((l) => l.split(/\\s+/).slice(5).join(' ')))] }))`,
      ].join('\n'),
    )
    const r = await run([
      'env',
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      process.execPath,
      script,
    ])
    return {
      ...r,
      report:
        r.code === 0
          ? (JSON.parse(r.stdout) as { info: { version: string; source: string }; files: string[] })
          : undefined,
    }
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'weft-libbpf-test-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  })

  test('the embedded libbpf comes from a sealed memfd; a library planted at the old /tmp path is never loaded', async () => {
    // Where weft used to write (and reuse, unchecked) the embedded copy:
    // <$WEFT_RUNTIME_DIR or tmpdir()>/weft-lib-<uid>/libbpf-<sha256 prefix>.so.1
    const oldDir = join(dir, `weft-lib-${process.getuid?.()}`)
    mkdirSync(oldDir)
    const planted = join(oldDir, `libbpf-${sha256(libbpfBytes()).slice(0, 16)}.so.1`)
    const marker = join(dir, 'planted-code-ran')
    writeFileSync(
      join(dir, 'planted.c'),
      [
        '#include <stdio.h>',
        `__attribute__((constructor)) static void run_as_root(void) { FILE *f = fopen(${JSON.stringify(marker)}, "w"); if (f) fclose(f); }`,
        'unsigned libbpf_major_version(void) { return 99; }',
        'unsigned libbpf_minor_version(void) { return 99; }',
      ].join('\n'),
    )
    const cc = await run(['clang', '-shared', '-fPIC', '-o', planted, join(dir, 'planted.c')])
    expect(cc.stderr).toBe('')
    expect(existsSync(planted)).toBe(true)

    const r = await loadInChild({ TMPDIR: dir, WEFT_RUNTIME_DIR: dir, WEFT_LIBBPF: 'embedded' })
    expect(r.stderr).toBe('')
    expect(existsSync(marker)).toBe(false) // the planted constructor never ran
    expect(r.report!.info.source).toBe('embedded')
    expect(r.report!.info.version).toMatch(/^1\.\d+$/)
    expect(r.report!.files).toEqual(['/memfd:weft-libbpf (deleted)'])
  })

  test('the embedded copy is the default; WEFT_LIBBPF=system loads the host one; anything else is refused', async () => {
    const byDefault = await loadInChild({})
    expect(byDefault.report!.files).toEqual(['/memfd:weft-libbpf (deleted)'])
    const system = await loadInChild({ WEFT_LIBBPF: 'system' })
    expect(system.report!.info.source).toBe('system')
    expect(system.report!.files).toEqual([expect.stringMatching(/^\/usr\/lib.*\/libbpf\.so\.1/)])
    const bogus = await loadInChild({ WEFT_LIBBPF: '/tmp/evil.so' })
    expect(bogus.code).not.toBe(0)
    expect(bogus.stderr).toContain(
      'WEFT_LIBBPF="/tmp/evil.so" is not understood: use "embedded" (the default, the tested copy) or "system"',
    )
  })
})

function catchError(fn: () => unknown): BpfError {
  try {
    fn()
  } catch (e) {
    return e as BpfError
  }
  throw new Error('expected an error, got none')
}
