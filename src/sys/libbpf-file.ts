// Which libbpf to dlopen, and from where. By default the copy embedded in the binary (the one
// the tests ran against), loaded from a sealed memfd: dlopen needs a file, and a memfd is one
// no other user can create, replace or write (it has no name in any directory), so there is
// no path in /tmp to plant a library at. WEFT_LIBBPF=system uses the host's libbpf.so.1.
import { closeSync, writeSync } from 'node:fs'
import { libbpfBytes } from '../embedded/index.ts'
import { WeftError } from '../errors/index.ts'
import { errnoName } from './errno.ts'
import type { Libc } from './libc.ts'

const MFD_CLOEXEC = 0x1
const MFD_ALLOW_SEALING = 0x2
const F_SEAL_SEAL = 0x1
const F_SEAL_SHRINK = 0x2
const F_SEAL_GROW = 0x4
const F_SEAL_WRITE = 0x8

/** Where the libbpf this process loads comes from. */
export type LibbpfSource = 'embedded' | 'system'

/** The libbpf to load: WEFT_LIBBPF=system|embedded, default embedded. Anything else is refused. */
export function libbpfSource(env: Record<string, string | undefined> = process.env): LibbpfSource {
  const v = env.WEFT_LIBBPF
  if (v === undefined || v === '' || v === 'embedded') return 'embedded'
  if (v === 'system') return 'system'
  throw new WeftError(
    'invalid_input',
    `WEFT_LIBBPF="${v}" is not understood: use "embedded" (the default, the tested copy) or "system"`,
  )
}

/** A file to dlopen; `release()` once dlopen has mapped it. */
export interface LibbpfFile {
  path: string
  source: LibbpfSource
  release(): void
}

/** The embedded libbpf's bytes in a sealed memfd, as a /proc/self/fd path dlopen can open. */
export function embeddedLibbpfFile(libc: Libc, bytes: Uint8Array = libbpfBytes()): LibbpfFile {
  const fd = libc.memfdCreate('weft-libbpf', MFD_CLOEXEC | MFD_ALLOW_SEALING)
  if (fd < 0) {
    const e = libc.errno()
    throw new WeftError(
      'libbpf_unavailable',
      `cannot load the embedded libbpf: memfd_create failed (${errnoName(e)}: ${libc.strerror(e)}); ` +
        'set WEFT_LIBBPF=system to use the host libbpf.so.1 instead',
    )
  }
  try {
    for (let at = 0; at < bytes.byteLength;) at += writeSync(fd, bytes, at, bytes.byteLength - at)
    // Sealed: nothing can change the library between here and dlopen, not even this process.
    if (libc.addSeals(fd, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
      const e = libc.errno()
      throw new WeftError(
        'libbpf_unavailable',
        `cannot seal the memfd holding the embedded libbpf (${errnoName(e)}: ${libc.strerror(e)})`,
      )
    }
  } catch (err) {
    closeSync(fd)
    throw err
  }
  let open = true
  return {
    path: `/proc/self/fd/${fd}`,
    source: 'embedded',
    release() {
      if (open) closeSync(fd)
      open = false
    },
  }
}

/** The libbpf file for `source`: the host's by soname (the loader's search path), or the embedded one. */
export function libbpfFile(libc: Libc, source: LibbpfSource = libbpfSource()): LibbpfFile {
  if (source === 'system') return { path: 'libbpf.so.1', source, release() {} }
  return embeddedLibbpfFile(libc)
}
