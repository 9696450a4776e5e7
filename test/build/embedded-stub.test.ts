// src/embedded/generated.stub.ts stands in for build/embedded.gen.ts when tsc runs on a fresh
// clone (tsconfig.json "paths"). Both must export the same names, or a fresh clone typechecks
// code that the build breaks (or the reverse). Types are tied by compile.ts (`typeof Stub.X`).
import { expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = join(import.meta.dir, '..', '..')
const exportsOf = (file: string) =>
  [...readFileSync(join(root, file), 'utf8').matchAll(/^export const (\w+)/gm)].map((m) => m[1]).sort()

test('the stub and the generated module export the same names', () => {
  const generated = exportsOf('build/embedded.gen.ts')
  expect(generated.length).toBeGreaterThan(0)
  expect(exportsOf('src/embedded/generated.stub.ts')).toEqual(generated)
})

test('the generated module is typed by the stub', () => {
  const gen = readFileSync(join(root, 'build/embedded.gen.ts'), 'utf8')
  for (const name of exportsOf('build/embedded.gen.ts')) expect(gen).toContain(`export const ${name}: typeof Stub.${name} =`)
})

test('importing the stub says how to build', async () => {
  await expect(import('../../src/embedded/generated.stub.ts')).rejects.toThrow('build first')
})
