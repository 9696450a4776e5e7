// Fixtures for the src/bpf tests: root check, the test BPF objects (built on demand), and a
// pair of network namespaces joined by a veth. Nothing is created in the root namespace;
// everything carries a random "wtb<hex>" prefix and is removed by destroy().

import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { mustRunIn, run } from '../harness/index.ts'

const ROOT = join(import.meta.dir, '..', '..')

/** Throws (failing the test file) unless running as root. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'test/bpf loads BPF programs and creates network namespaces: run it as root (sudo bun test test/bpf)',
    )
  }
}

/** A fresh per-run prefix, e.g. "wtb3fa2c1". */
export function newPrefix(): string {
  return 'wtb' + randomBytes(3).toString('hex')
}

/**
 * Bytes of bpf/test/<name>.bpf.c compiled to build/bpf/<name>.o. compile.ts builds it; when the
 * object is missing or older than its source we compile it here so the tests run on their own.
 */
export function testObjectBytes(name: string): Uint8Array {
  const src = join(ROOT, 'bpf', 'test', `${name}.bpf.c`)
  const out = join(ROOT, 'build', 'bpf', `${name}.o`)
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(join(ROOT, 'build', 'bpf'), { recursive: true })
    const r = Bun.spawnSync(
      [
        'clang',
        '-target',
        'bpf',
        '-O2',
        '-g',
        '-Wall',
        '-I/usr/include/x86_64-linux-gnu',
        '-c',
        src,
        '-o',
        out,
      ],
      { stderr: 'pipe' },
    )
    if (r.exitCode !== 0) throw new Error(`clang ${src} failed: ${r.stderr.toString()}`)
  }
  return new Uint8Array(readFileSync(out))
}

/** Two namespaces joined by a veth: a/v0 198.18.0.1 <-> b/v1 198.18.0.2. */
export interface VethPair {
  prefix: string
  a: { ns: string; path: string; ifname: 'v0'; ip: string }
  b: { ns: string; path: string; ifname: 'v1'; ip: string }
  destroy(): Promise<void>
}

export async function createVethPair(prefix: string): Promise<VethPair> {
  const a = {
    ns: `${prefix}-a`,
    path: `/run/netns/${prefix}-a`,
    ifname: 'v0' as const,
    ip: '198.18.0.1',
  }
  const b = {
    ns: `${prefix}-b`,
    path: `/run/netns/${prefix}-b`,
    ifname: 'v1' as const,
    ip: '198.18.0.2',
  }
  const made: string[] = []
  const destroy = async () => {
    for (const ns of made.reverse()) await run(['ip', 'netns', 'del', ns])
    made.length = 0
  }
  try {
    for (const ns of [a.ns, b.ns]) {
      const r = await run(['ip', 'netns', 'add', ns])
      if (r.code !== 0) throw new Error(`ip netns add ${ns}: ${r.stderr}`)
      made.push(ns)
    }
    // Created inside a and moved straight to b: the root namespace never sees it.
    await mustRunIn(a.ns, [
      'ip',
      'link',
      'add',
      a.ifname,
      'type',
      'veth',
      'peer',
      'name',
      b.ifname,
      'netns',
      b.ns,
    ])
    for (const side of [a, b]) {
      await mustRunIn(side.ns, ['ip', 'addr', 'add', `${side.ip}/24`, 'dev', side.ifname])
      await mustRunIn(side.ns, ['ip', 'link', 'set', side.ifname, 'up'])
      await mustRunIn(side.ns, ['ip', 'link', 'set', 'lo', 'up'])
    }
  } catch (e) {
    await destroy()
    throw e
  }
  return { prefix, a, b, destroy }
}

/** Namespaces that still exist with this prefix (for leak checks). */
export async function leftoverNamespaces(prefix: string): Promise<string[]> {
  const r = await run(['ip', 'netns', 'list'])
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(prefix))
}
