// bpf/abi.h and src/datapath/bpf/abi.ts must agree, as the compiled object says: every map's
// key and value type member by member (offset, byte order via __be32 vs __u32), the counter
// ids and the drop reasons (enum vx_drop_reason, read from BTF), and the sizes libbpf sees.
// The check is shown to fail on copies of bpf/ with a field swapped, a __be32 turned __u32 and
// a reason renamed: it can fail for the reasons it names.
import { afterAll, describe, expect, test } from 'bun:test'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openObject } from '../../src/bpf/index.ts'
import { MAP_CODECS, MAP_NAMES } from '../../src/datapath/bpf/abi.ts'
import { bpfObjectBytes } from '../../src/embedded/index.ts'
import { BPF_ROOT, compileBpfObject } from '../../scripts/bpf-cc.ts'
import { abiMismatches } from './abi-check.ts'
import { Btf } from './btf.ts'

const work = mkdtempSync(join(tmpdir(), 'weft-abi-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

function builtBtf(): Btf {
  const file = join(work, 'vxlan.o')
  writeFileSync(file, bpfObjectBytes('vxlan'))
  return Btf.ofObject(file)
}

/** Build vxlan.bpf.c from a copy of bpf/ whose abi.h had `from` replaced by `to`. */
async function mutantBtf(name: string, from: string, to: string): Promise<Btf> {
  const root = join(work, name)
  cpSync(BPF_ROOT, root, { recursive: true })
  const abi = readFileSync(join(root, 'abi.h'), 'utf8')
  if (!abi.includes(from)) throw new Error(`mutation ${name}: bpf/abi.h no longer contains ${JSON.stringify(from)}`)
  writeFileSync(join(root, 'abi.h'), abi.replace(from, to))
  const out = join(work, `${name}.o`)
  await compileBpfObject(join(root, 'vxlan.bpf.c'), out, { bpfRoot: root })
  return Btf.ofObject(out)
}

describe('bpf/abi.h vs src/datapath/bpf/abi.ts (BTF of the built object)', () => {
  test('maps, struct members, byte order, counters and drop reasons agree', () => {
    expect(abiMismatches(builtBtf())).toEqual([])
  })

  test('drop reasons come from the enum: every code has its name, inner_src_spoof included', () => {
    const drops = builtBtf().enumValues('vx_drop_reason')
    expect(Object.keys(drops).length).toBeGreaterThan(10)
    expect(drops.VX_DROP_INNER_SRC_SPOOF).toBe(-149)
    expect(drops.VX_DROP_RANGE_LO).toBe(-152)
    expect(drops.VX_DROP_RANGE_HI).toBe(-130)
  })

  test("compiled maps' key/value sizes (as libbpf sees them) equal the codecs' sizes", () => {
    const spec = openObject(bpfObjectBytes('vxlan'), { name: 'vxlan-abi' })
    try {
      const maps = Object.fromEntries(spec.maps.map((m) => [m.name, m]))
      expect(Object.keys(MAP_CODECS).sort()).toEqual([...MAP_NAMES].sort())
      for (const name of MAP_NAMES) {
        expect(maps[name], `map ${name} in the object`).toBeDefined()
        expect([maps[name]!.keySize, maps[name]!.valueSize], name).toEqual([MAP_CODECS[name].key.size, MAP_CODECS[name].value.size])
        expect(name.length).toBeLessThanOrEqual(15)
      }
    } finally {
      spec.close()
    }
  })
})

describe('the ABI check fails on a broken abi.h', () => {
  test('two fields of struct vx_ep swapped (same sizes)', async () => {
    const btf = await mutantBtf(
      'swap',
      '\t__u32 ifindex;\t\t/* local: host-side veth ifindex; remote: 0 */\n\t__be32 vtep;\t\t/* remote: owning VTEP; local: 0 */',
      '\t__be32 vtep;\n\t__u32 ifindex;',
    )
    const m = abiMismatches(btf)
    expect(m).toContain('struct vx_ep.ifindex: C offset 4, abi.ts ifindex offset 0')
    expect(m).toContain('struct vx_ep.vtep: C offset 0, abi.ts vtep offset 4')
  }, 30_000)

  test('a __be32 turned into a __u32 (byte order)', async () => {
    const btf = await mutantBtf('byteorder', '\t__be32 ip;\t\t/* endpoint IPv4 address */', '\t__u32 ip;')
    expect(abiMismatches(btf)).toContain('struct vx_ep_key.ip: C type __u32, abi.ts ip is __be32')
  }, 30_000)

  test('a drop reason renamed, and one added without its name in abi.ts', async () => {
    // (the old name stays a macro, so the code that returns it still builds)
    const renamed = await mutantBtf('rename', 'VX_DROP_LOOP = -148,', 'VX_DROP_SELF = -148,\n#define VX_DROP_LOOP VX_DROP_SELF\n')
    expect(abiMismatches(renamed)).toContain('drop reason 148: C self, abi.ts loop')
    const added = await mutantBtf(
      'added',
      'VX_DROP_RANGE_LO = VX_DROP_NO_WAY_OUT,',
      'VX_DROP_NEW = -153,\n\tVX_DROP_RANGE_LO = VX_DROP_NEW,',
    )
    expect(abiMismatches(added)).toContain('drop reason 153: C new, abi.ts (none)')
  }, 30_000)
})
