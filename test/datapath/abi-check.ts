// Compares src/datapath/bpf/abi.ts with a compiled object's BTF and lists every disagreement:
// map key/value types member by member (offset, byte order through the typedef chain), enum
// vx_counter and enum vx_drop_reason. An empty list means the two sides agree. Used by
// test/datapath/bpf-abi.test.ts on the real object and on deliberately broken copies.
import { be16, be32, u16, u32, u64, u8, type Codec } from '../../src/bpf/index.ts'
import {
  Counter,
  DROP_REASONS,
  MAP_CODECS,
  WIRE_STRUCTS,
  type CStructCodec,
} from '../../src/datapath/bpf/abi.ts'
import type { Btf } from './btf.ts'

/** What a scalar codec must be in C: its first typedef (byte order lives in the typedef name). */
const SCALAR_TYPEDEFS = new Map<Codec<any>, string>([
  [u8, '__u8'],
  [u16, '__u16'],
  [u32, '__u32'],
  [u64, '__u64'],
  [be16, '__be16'],
  [be32, '__be32'],
])

const isStruct = (c: Codec<any>): c is CStructCodec<any> => 'cName' in c
const snake = (camel: string) => camel.replace(/[A-Z]/g, (ch) => `_${ch.toLowerCase()}`)
/** Explicit padding members in abi.h: not mirrored in TS (written as zero). */
const isPadding = (name: string) => /^pad\d*$/.test(name)

/** The C description a codec must match (see Btf.describe). */
function expectedType(c: Codec<any>): string {
  if (isStruct(c)) return `struct ${c.cName}`
  const typedef = SCALAR_TYPEDEFS.get(c)
  if (typedef) return typedef
  return `array of ${c.size} __u8` // bytes(n)
}

function compareType(btf: Btf, id: number, codec: Codec<any>, where: string, out: string[]): void {
  const have = btf.describe(id)
  const want = expectedType(codec)
  if (have !== want) out.push(`${where}: C has ${have}, abi.ts has ${want}`)
  if (btf.sizeOf(id) !== codec.size)
    out.push(`${where}: C size ${btf.sizeOf(id)}, abi.ts size ${codec.size}`)
  if (!isStruct(codec) || have !== want) return
  const members = btf.members(id)
  const fields = Object.entries(codec.fields) as [string, { offset: number; codec: Codec<any> }][]
  for (const m of members.filter((m) => !isPadding(m.name))) {
    const f = fields.find(([name]) => snake(name) === m.name)
    if (!f) {
      out.push(`struct ${codec.cName}.${m.name}: in C, missing in abi.ts`)
      continue
    }
    const [name, field] = f
    if (field.offset !== m.offset)
      out.push(
        `struct ${codec.cName}.${m.name}: C offset ${m.offset}, abi.ts ${name} offset ${field.offset}`,
      )
    const fieldWant = expectedType(field.codec)
    if (m.type !== fieldWant)
      out.push(`struct ${codec.cName}.${m.name}: C type ${m.type}, abi.ts ${name} is ${fieldWant}`)
  }
  for (const [name] of fields) {
    if (!members.some((m) => m.name === snake(name)))
      out.push(`struct ${codec.cName}: abi.ts field ${name} (${snake(name)}) is not in C`)
  }
}

/** Maps only the BPF programs read and write (bpf/maps.h says so): not part of the contract. */
export const BPF_ONLY_MAPS: readonly string[] = ['vx_nbr']

/** Every disagreement between abi.ts and the object's BTF; [] when they agree. */
export function abiMismatches(btf: Btf): string[] {
  const out: string[] = []
  const maps = btf.maps()
  for (const name of new Set([...maps.keys(), ...Object.keys(MAP_CODECS)])) {
    if (BPF_ONLY_MAPS.includes(name) && !(name in MAP_CODECS)) continue
    const c = MAP_CODECS[name as keyof typeof MAP_CODECS]
    const m = maps.get(name)
    if (!c || !m) {
      out.push(`map ${name}: ${c ? 'missing in the object' : 'not in abi.ts MAP_CODECS'}`)
      continue
    }
    compareType(btf, m.key, c.key, `map ${name} key`, out)
    compareType(btf, m.value, c.value, `map ${name} value`, out)
  }

  for (const c of WIRE_STRUCTS) {
    const t = btf.find('STRUCT', c.cName)
    if (!t)
      out.push(
        `struct ${c.cName}: not in the object's BTF (is it used in a signature clang keeps?)`,
      )
    else compareType(btf, t.id, c, `struct ${c.cName}`, out)
  }

  const counters = btf.enumValues('vx_counter')
  const wantCounters = Object.fromEntries(
    Object.entries(Counter).map(([k, v]) => [`VX_CTR_${k}`, v]),
  )
  if (JSON.stringify(sorted(counters)) !== JSON.stringify(sorted(wantCounters))) {
    out.push(
      `enum vx_counter ${JSON.stringify(sorted(counters))} != abi.ts Counter ${JSON.stringify(sorted(wantCounters))}`,
    )
  }

  const drops = btf.enumValues('vx_drop_reason')
  const { VX_DROP_RANGE_LO: lo, VX_DROP_RANGE_HI: hi, ...reasons } = drops
  const fromC: Record<string, string> = {}
  for (const [member, value] of Object.entries(reasons)) {
    fromC[String(-value)] = member.replace(/^VX_DROP_/, '').toLowerCase()
  }
  for (const code of new Set([...Object.keys(fromC), ...Object.keys(DROP_REASONS)])) {
    const c = fromC[code]
    const ts = DROP_REASONS[Number(code)]
    if (c !== ts) out.push(`drop reason ${code}: C ${c ?? '(none)'}, abi.ts ${ts ?? '(none)'}`)
  }
  const values = Object.values(reasons)
  if (lo !== Math.min(...values) || hi !== Math.max(...values)) {
    out.push(
      `VX_DROP_RANGE_LO..HI is ${lo}..${hi}, the reasons span ${Math.min(...values)}..${Math.max(...values)}`,
    )
  }
  if (values.length !== hi! - lo! + 1)
    out.push(`drop reason codes ${lo}..${hi} have gaps or duplicates`)
  return out
}

function sorted(o: Record<string, number>): [string, number][] {
  return Object.entries(o).sort(([a], [b]) => a.localeCompare(b))
}
