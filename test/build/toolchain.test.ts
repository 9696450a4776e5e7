// The build's own guards: clang warnings fail the BPF build (and are shown), and compile.ts
// refuses a Bun other than the one package.json pins.
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pkg from '../../package.json'
import { BPF_ROOT, compileBpfObject } from '../../scripts/bpf-cc.ts'
import { assertPinnedBun, pinnedBunVersion } from '../../scripts/bun-pin.ts'

const work = mkdtempSync(join(tmpdir(), 'weft-toolchain-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const PROGRAM = (body: string) => `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("tc")
int prog(struct __sk_buff *skb)
{
${body}
}
char LICENSE[] SEC("license") = "GPL";
`

describe('BPF compile', () => {
  test('a clean program builds against the system libbpf headers', async () => {
    const src = join(work, 'clean.bpf.c')
    writeFileSync(src, PROGRAM('\treturn skb->len > 0;'))
    expect((await compileBpfObject(src, join(work, 'clean.o'), { bpfRoot: BPF_ROOT })).diagnostics).toBe('')
  })

  test('a warning fails the build and is shown', async () => {
    const src = join(work, 'warns.bpf.c')
    writeFileSync(src, PROGRAM('\tint unused = 1;\n\treturn skb->len > 0;'))
    await expect(compileBpfObject(src, join(work, 'warns.o'), { bpfRoot: BPF_ROOT })).rejects.toThrow(
      /unused variable 'unused' \[-Werror,-Wunused-variable\]/,
    )
  })
})

describe('Bun pin', () => {
  test('package.json pins Bun exactly and this is that Bun', () => {
    expect(pinnedBunVersion(pkg)).toMatch(/^\d+\.\d+\.\d+$/)
    expect(() => assertPinnedBun(pkg, Bun.version)).not.toThrow()
  })

  test('another Bun is refused, saying which one is pinned', () => {
    expect(() => assertPinnedBun({ devDependencies: { bun: '1.4.5' } }, '1.4.6')).toThrow(
      'this is Bun 1.4.6, but package.json pins Bun 1.4.5',
    )
  })

  test('a range or a missing pin is refused', () => {
    expect(() => pinnedBunVersion({ devDependencies: { bun: '^1.4.5' } })).toThrow('must pin Bun exactly')
    expect(() => pinnedBunVersion({})).toThrow('must pin Bun exactly')
  })
})
