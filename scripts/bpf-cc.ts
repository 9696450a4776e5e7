// How weft compiles its BPF C: one clang invocation, shared by compile.ts and the tests that
// build deliberately broken copies of bpf/ (the ABI check and the isolation check must fail on
// them). Warnings are errors and are always shown: a BPF object that builds with a warning is
// not released.
import { $ } from 'bun'
import { join } from 'node:path'

/**
 * `-target bpf` has no multiarch triple, so clang does not search Debian's per-architecture
 * include dir, where <asm/types.h> (pulled in by <linux/types.h>) lives.
 */
const MULTIARCH_INCLUDE = `/usr/include/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`

/**
 * Flags for every object. `bpfRoot` is the directory holding abi.h, maps.h and lib/ (the repo's
 * bpf/ or a copy of it): headers include each other as "abi.h" and "lib/x.h" from there.
 * <bpf/bpf_helpers.h> and <bpf/bpf_endian.h> come from the system's libbpf-dev (1.1.2 on Debian 12).
 */
export function bpfCflags(bpfRoot: string, defines: string[] = []): string[] {
  return [
    '-target',
    'bpf',
    '-O2',
    '-g',
    '-Wall',
    '-Wextra',
    '-Wno-unused-parameter',
    '-Werror',
    '-I',
    bpfRoot,
    '-I',
    MULTIARCH_INCLUDE,
    ...defines.map((d) => `-D${d}`),
  ]
}

export interface BpfCompileResult {
  /** clang's diagnostics (warnings included), empty when there were none. */
  diagnostics: string
}

/** Compile one .bpf.c file into `out`; throws with clang's diagnostics when it fails. */
export async function compileBpfObject(
  src: string,
  out: string,
  opts: { bpfRoot: string; defines?: string[] },
): Promise<BpfCompileResult> {
  const r = await $`clang ${bpfCflags(opts.bpfRoot, opts.defines)} -c ${src} -o ${out}`
    .nothrow()
    .quiet()
  const diagnostics = r.stderr.toString().trim()
  if (r.exitCode !== 0) {
    throw new Error(
      `clang failed on ${src}${diagnostics ? `:\n${diagnostics}` : ''}\n` +
        '(warnings are errors; is clang installed? apt-get install clang llvm libbpf-dev)',
    )
  }
  return { diagnostics }
}

/** The repo's bpf/ directory. */
export const BPF_ROOT = join(import.meta.dir, '..', 'bpf')
