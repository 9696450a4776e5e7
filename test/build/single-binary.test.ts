// dist/weft is self-contained: copied to an empty directory, with no node_modules in
// reach and the system libbpf hidden, `weft version` still works (embedded libbpf,
// embedded libSQL addon, embedded BPF objects).
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { copyFileSync, existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { requireRoot, run } from '../harness/index.ts'

const repo = join(import.meta.dir, '..', '..')
const binary = join(repo, 'dist', 'weft')
let dir: string

beforeAll(() => {
  requireRoot() // unshare -m needs root
  if (!existsSync(binary)) throw new Error('dist/weft is missing: run `npm run build` first')
  dir = mkdtempSync(join(tmpdir(), 'weft-bin-'))
  copyFileSync(binary, join(dir, 'weft'))
})

afterAll(() => rmSync(dir, { recursive: true, force: true }))

test('weft version runs from an empty dir without node_modules or the system libbpf', async () => {
  const systemLibbpf = realpathSync('/usr/lib/x86_64-linux-gnu/libbpf.so.1')
  // A private mount namespace: hide the system libbpf and the repo's node_modules.
  const script = [
    `mount --bind /dev/null ${systemLibbpf}`,
    `mount -t tmpfs none ${join(repo, 'node_modules')}`,
    `cd ${dir}`,
    `WEFT_RUNTIME_DIR=${dir} ./weft version --format json`,
  ].join(' && ')
  const r = await run(['unshare', '-m', '--propagation', 'private', 'sh', '-c', script])
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  const report = JSON.parse(r.stdout)
  expect(report.libbpf.source).toBe('embedded')
  expect(report.libbpf.version).toMatch(/^1\.\d+$/)
  expect(report.libsql.sqlite).toMatch(/^3\.\d+\.\d+$/)
  expect(report.commit).toMatch(/^[0-9a-f]{12}/)
  for (const o of report.bpfObjects) expect(o.sha256).toMatch(/^[0-9a-f]{64}$/)
  expect(report.bpfObjects.map((o: { name: string }) => o.name)).toContain('vxlan')
})

test('weft version text output names each embedded BPF object and its sha256', async () => {
  const r = await run([join(dir, 'weft'), 'version'])
  expect(r.code).toBe(0)
  expect(r.stdout).toMatch(/^weft \d+\.\d+\.\d+ \(commit [0-9a-f]{12}/)
  expect(r.stdout).toMatch(/bpf +vxlan\.o sha256:[0-9a-f]{64}/)
})
