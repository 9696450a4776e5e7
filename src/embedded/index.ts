// Assets built into the binary: BPF objects, libbpf, version facts. In a compiled binary
// the asset paths point into Bun's embedded filesystem ($bunfs), which dlopen cannot read,
// so native libraries are written out to a real file first.
import { createHash } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dlopen } from 'bun:ffi'
import { BPF_OBJECT_PATHS, COMMIT, LIBBPF_PATH, VERSION } from '@build/embedded.gen'

export { VERSION, COMMIT }

/** Names of the embedded BPF objects (e.g. "vxlan"). */
export function bpfObjectNames(): string[] {
  return Object.keys(BPF_OBJECT_PATHS).sort()
}

/** The bytes of an embedded BPF object, for libbpf's open-from-memory. */
export function bpfObjectBytes(name: string): Uint8Array {
  const path = BPF_OBJECT_PATHS[name]
  if (!path) throw new Error(`no embedded BPF object "${name}" (have: ${bpfObjectNames().join(', ')})`)
  return new Uint8Array(readFileSync(path))
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

let resolvedLibbpf: string | undefined

/**
 * Path of a libbpf.so.1 to dlopen: the host's own when it has one that loads (override
 * with WEFT_LIBBPF=embedded to force the embedded copy), else the embedded copy written
 * to a private file named by its hash.
 */
export function libbpfPath(): string {
  if (resolvedLibbpf) return resolvedLibbpf
  if (process.env.WEFT_LIBBPF !== 'embedded' && systemLibbpfLoads()) {
    return (resolvedLibbpf = 'libbpf.so.1')
  }
  const bytes = new Uint8Array(readFileSync(LIBBPF_PATH))
  const dir = join(process.env.WEFT_RUNTIME_DIR ?? tmpdir(), `weft-lib-${process.getuid?.() ?? 0}`)
  const file = join(dir, `libbpf-${sha256(bytes).slice(0, 16)}.so.1`)
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const tmp = `${file}.${process.pid}`
    writeFileSync(tmp, bytes, { mode: 0o500 })
    chmodSync(tmp, 0o500)
    // rename is atomic: a concurrent start never dlopens a half-written file
    renameSync(tmp, file)
  }
  return (resolvedLibbpf = file)
}

function systemLibbpfLoads(): boolean {
  try {
    const lib = dlopen('libbpf.so.1', { libbpf_major_version: { args: [], returns: 'u32' } })
    lib.close()
    return true
  } catch {
    return false
  }
}
