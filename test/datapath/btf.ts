// The BTF of a compiled BPF object, as `bpftool btf dump format raw` reports it (JSON): the
// types the ABI test compares with src/datapath/bpf/abi.ts. Read-only, test-side.

export interface BtfMember {
  name: string
  type_id: number
  bits_offset: number
}

export interface BtfType {
  id: number
  kind: string
  name: string
  type_id?: number
  size?: number
  nr_elems?: number
  members?: BtfMember[]
  values?: { name: string; val: string | number }[]
  vars?: { type_id: number; offset: number; size: number }[]
}

/** One struct member, flattened for comparison: name, byte offset, and what its type is. */
export interface MemberLayout {
  name: string
  offset: number
  /** The member's type: the first typedef name (e.g. "__be32"), "array of N __u8", or the kind + name. */
  type: string
}

export class Btf {
  private readonly byId = new Map<number, BtfType>()

  private constructor(types: BtfType[]) {
    for (const t of types) this.byId.set(t.id, t)
  }

  /** Read an object file's BTF with bpftool (fails loudly without it). */
  static ofObject(path: string): Btf {
    const r = Bun.spawnSync(['bpftool', '-j', 'btf', 'dump', 'file', path, 'format', 'raw'], {
      stdout: 'pipe',
      stderr: 'pipe',
    })
    if (r.exitCode !== 0)
      throw new Error(
        `bpftool btf dump file ${path} failed: ${r.stderr.toString()} (apt-get install bpftool)`,
      )
    // Enum values are printed as 64-bit unsigned numbers, beyond a double's exact range: keep them as text.
    const text = r.stdout.toString().replace(/"val": ?(\d{16,})/g, '"val": "$1"')
    return new Btf((JSON.parse(text) as { types: BtfType[] }).types)
  }

  type(id: number): BtfType {
    const t = this.byId.get(id)
    if (!t) throw new Error(`BTF has no type ${id}`)
    return t
  }

  find(kind: string, name: string): BtfType | undefined {
    return [...this.byId.values()].find((t) => t.kind === kind && t.name === name)
  }

  /** An enum's members and their (signed 32-bit) values. */
  enumValues(name: string): Record<string, number> {
    const e = this.find('ENUM', name)
    if (!e) throw new Error(`BTF has no enum ${name}: is it used in a signature that clang keeps?`)
    return Object.fromEntries(
      (e.values ?? []).map((v) => [v.name, Number(BigInt.asIntN(32, BigInt(v.val)))]),
    )
  }

  /** The key and value type ids of every map in the object's .maps section. */
  maps(): Map<string, { key: number; value: number }> {
    const sec = this.find('DATASEC', '.maps')
    if (!sec) throw new Error('BTF has no .maps section')
    const out = new Map<string, { key: number; value: number }>()
    for (const v of sec.vars ?? []) {
      const variable = this.type(v.type_id)
      const def = this.type(variable.type_id!)
      const pointee = (member: string) => {
        const m = def.members?.find((x) => x.name === member)
        if (!m) throw new Error(`map ${variable.name} declares no __type(${member}, ...)`)
        return this.type(m.type_id).type_id!
      }
      out.set(variable.name, { key: pointee('key'), value: pointee('value') })
    }
    return out
  }

  /** Size of a type in bytes, through typedefs and qualifiers. */
  sizeOf(id: number): number {
    const t = this.type(id)
    if (t.kind === 'ARRAY') return t.nr_elems! * this.sizeOf(t.type_id!)
    if (t.size !== undefined) return t.size
    if (t.type_id !== undefined) return this.sizeOf(t.type_id)
    throw new Error(`BTF type ${id} (${t.kind}) has no size`)
  }

  /** What a type is, as compared with a codec: its first typedef name, or an array of them. */
  describe(id: number): string {
    const t = this.type(id)
    if (t.kind === 'TYPEDEF') return t.name
    if (t.kind === 'CONST' || t.kind === 'VOLATILE') return this.describe(t.type_id!)
    if (t.kind === 'ARRAY') return `array of ${t.nr_elems} ${this.describe(t.type_id!)}`
    return `${t.kind.toLowerCase()} ${t.name}`
  }

  /** A struct's members with byte offsets and described types. */
  members(id: number): MemberLayout[] {
    const t = this.type(id)
    if (t.kind !== 'STRUCT') throw new Error(`BTF type ${id} is a ${t.kind}, not a struct`)
    return (t.members ?? []).map((m) => {
      if (m.bits_offset % 8) throw new Error(`struct ${t.name}.${m.name} is a bitfield`)
      return { name: m.name, offset: m.bits_offset / 8, type: this.describe(m.type_id) }
    })
  }
}
