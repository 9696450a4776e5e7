// The FFI struct layouts in src/sys/structs.ts must match the C headers byte for byte.
// We generate a C program that prints sizeof/offsetof for every struct and field we encode,
// compile it against the real headers (and the running kernel's BTF for newer members), run
// it, and compare. Wrong offsets here would silently pass garbage to libbpf.

import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ALL_LAYOUTS, type StructLayout } from '../../src/sys/structs.ts'

const work = mkdtempSync(join(tmpdir(), 'weft-structs-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

function sh(cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stdout: 'pipe', stderr: 'pipe' })
  if (r.exitCode !== 0) throw new Error(`${cmd.join(' ')} failed: ${r.stderr.toString()}`)
  return r.stdout.toString()
}

/**
 * Compile and run a program printing "<struct> <size>" and "<struct>.<field> <offset> <size>"
 * after the given `prelude` (its #includes).
 */
function measure(
  layouts: readonly StructLayout[],
  prelude: string[],
  name: string,
): Map<string, number[]> {
  const lines = [
    ...prelude,
    '#define OFF(t, f) ((unsigned long)__builtin_offsetof(t, f))',
    'int main(void) {',
  ]
  for (const l of layouts) {
    const t = `struct ${l.cName}`
    lines.push(`  printf("${l.cName} %lu\\n", (unsigned long)sizeof(${t}));`)
    for (const [field, f] of Object.entries(l.fields)) {
      const m = f.cField ?? field
      lines.push(
        `  printf("${l.cName}.${field} %lu %lu\\n", OFF(${t}, ${m}), (unsigned long)sizeof(((${t} *)0)->${m}));`,
      )
    }
  }
  lines.push('  return 0;', '}')
  const src = join(work, `${name}.c`)
  writeFileSync(src, lines.join('\n'))
  sh(['cc', '-Wall', '-I', work, src, '-o', join(work, name)])
  const out = new Map<string, number[]>()
  for (const line of sh([join(work, name)])
    .trim()
    .split('\n')) {
    const [key, ...nums] = line.split(' ')
    out.set(key ?? '', nums.map(Number))
  }
  return out
}

function expected(layouts: readonly StructLayout[]): Map<string, number[]> {
  const out = new Map<string, number[]>()
  for (const l of layouts) {
    out.set(l.cName, [l.size])
    for (const [field, f] of Object.entries(l.fields))
      out.set(`${l.cName}.${field}`, [f.offset, f.size])
  }
  return out
}

describe('FFI struct layouts', () => {
  test('libbpf and uapi structs match libbpf 1.1 / linux headers', () => {
    const layouts = ALL_LAYOUTS.filter((l) => l.header !== 'vmlinux.h')
    const includes = [...new Set(['stdio.h', ...layouts.map((l) => l.header)])].map(
      (h) => `#include <${h}>`,
    )
    expect(measure(layouts, includes, 'uapi')).toEqual(expected(layouts))
  })

  test('kernel-only members match the running kernel BTF', () => {
    const layouts = ALL_LAYOUTS.filter((l) => l.header === 'vmlinux.h')
    writeFileSync(
      join(work, 'vmlinux.h'),
      sh(['bpftool', 'btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c']),
    )
    // vmlinux.h redefines types that libc headers bring in: include it alone.
    const prelude = ['#include "vmlinux.h"', 'int printf(const char *, ...);']
    expect(measure(layouts, prelude, 'kernel')).toEqual(expected(layouts))
  })
})
