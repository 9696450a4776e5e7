// Assets built into the binary: BPF objects, libbpf, version facts. In a compiled binary the
// asset paths point into Bun's embedded filesystem ($bunfs); they are read as bytes here, and
// src/sys loads libbpf from those bytes (dlopen cannot read $bunfs).
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { BPF_OBJECT_PATHS, COMMIT, LIBBPF_PATH, VERSION } from '@build/embedded.gen'

export { VERSION, COMMIT }
export { dropCleanBinaryPages } from './resident.ts'

/** Names of the embedded BPF objects (e.g. "vxlan"). */
export function bpfObjectNames(): string[] {
  return Object.keys(BPF_OBJECT_PATHS).sort()
}

/** The bytes of an embedded BPF object, for libbpf's open-from-memory. */
export function bpfObjectBytes(name: string): Uint8Array {
  const path = BPF_OBJECT_PATHS[name]
  if (!path)
    throw new Error(`no embedded BPF object "${name}" (have: ${bpfObjectNames().join(', ')})`)
  return new Uint8Array(readFileSync(path))
}

/** The bytes of the embedded libbpf.so.1 (the copy the build staged and the tests ran against). */
export function libbpfBytes(): Uint8Array {
  return new Uint8Array(readFileSync(LIBBPF_PATH))
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}
