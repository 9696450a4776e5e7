// What a `weft` start evaluates: the modules src/main.ts reaches through static imports
// (dynamic import() is where a command loads its own code). None of the heavy parts may be
// among them, or `weft --help` pays for the agent again (bench/cli-startup.ts measures it).
import { expect, test } from 'bun:test'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'

const ROOT = join(import.meta.dir, '..', '..')
const transpiler = new Bun.Transpiler({ loader: 'ts' })

/** Every module reached from `entry` by static imports (type-only imports are erased). */
function staticGraph(entry: string): Set<string> {
  const seen = new Set<string>()
  const visit = (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    if (!file.startsWith('/')) return // a package or builtin: a leaf here
    for (const imp of transpiler.scanImports(readFileSync(file, 'utf8'))) {
      if (imp.kind !== 'import-statement') continue
      const spec = imp.path
      const target = spec.startsWith('.') ? resolve(dirname(file), spec) : spec
      if (target.startsWith('/') && !existsSync(target))
        throw new Error(`${file}: cannot resolve ${spec}`)
      visit(target)
    }
  }
  visit(entry)
  return seen
}

test('src/main.ts statically reaches none of the agent, libSQL, libbpf, pino, zod, hono', () => {
  const graph = [...staticGraph(join(ROOT, 'src', 'main.ts'))].map((f) =>
    f.startsWith(ROOT) ? f.slice(ROOT.length + 1) : f,
  )
  const heavy = graph.filter((f) =>
    /^(src\/(agent\/(agent|index|registration|metrics)|api|kv|bpf|datapath|net|store|reconcile|cluster|embedded|demo)\/|src\/log\.ts|@libsql|libsql|bun:ffi|pino|zod|hono|@hono|prom-client)/.test(
      f,
    ),
  )
  expect(heavy).toEqual([])
  // and it does reach the command table, so the check looks at the real start path
  expect(graph).toContain('src/cli/commands.ts')
  expect(graph).toContain('src/agent/config.ts')
})
