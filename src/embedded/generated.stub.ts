// Stand-in for build/embedded.gen.ts, which compile.ts generates. tsconfig.json maps
// '@build/embedded.gen' to the generated file and falls back to this one, so a fresh clone
// typechecks before any build; at run time it says what to do instead of "module not found".
// The generated file's exports are typed with `typeof` these (compile.ts writes them so), and
// test/build/embedded-stub.test.ts checks both export the same names.

function unbuilt(): never {
  throw new Error(
    'build/embedded.gen.ts is missing: build first (node_modules/.bin/bun run compile.ts)',
  )
}

/** BPF object name (e.g. "vxlan") -> path of the embedded .o. */
export const BPF_OBJECT_PATHS: Record<string, string> = unbuilt()
/** Path of the embedded libbpf.so.1. */
export const LIBBPF_PATH: string = unbuilt()
/** package.json version. */
export const VERSION: string = unbuilt()
/** Git commit of the build (12 hex digits, "-dirty" when the tree had changes), or "unknown". */
export const COMMIT: string = unbuilt()
