// bpf/abi.h and src/datapath/bpf/abi.ts must agree: drop reasons (codes and names), counter
// ids, and every map's key/value size in the compiled object against the TS codecs.
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { openObject } from '../../src/bpf/index.ts'
import {
  configCodec, Counter, DROP_REASONS, epCodec, epKeyCodec, ifCodec, MAP_NAMES, memberKeyCodec, netCodec, statCodec,
  statKeyCodec,
} from '../../src/datapath/bpf/abi.ts'
import { bpfObjectBytes } from '../../src/embedded/index.ts'

const abiH = readFileSync(join(import.meta.dir, '../../bpf/abi.h'), 'utf8')

describe('bpf/abi.h vs src/datapath/bpf/abi.ts', () => {
  test('drop reasons: same codes, same names', () => {
    const fromC: Record<number, string> = {}
    for (const m of abiH.matchAll(/#define VX_DROP_\w+\s+-(\d+)\s+\/\*\s*(\w+):/g)) fromC[Number(m[1])] = m[2]!
    expect(Object.keys(fromC).length).toBeGreaterThan(10)
    expect(fromC).toEqual({ ...DROP_REASONS })
    const min = Number(/#define VX_DROP_MIN\s+-(\d+)/.exec(abiH)![1])
    const max = Number(/#define VX_DROP_MAX\s+-(\d+)/.exec(abiH)![1])
    const codes = Object.keys(DROP_REASONS).map(Number)
    expect(Math.max(...codes)).toBe(min)
    expect(Math.min(...codes)).toBe(max)
  })

  test('counter ids match enum vx_counter', () => {
    const fromC: Record<string, number> = {}
    for (const m of abiH.matchAll(/VX_CTR_(\w+)\s*=\s*(\d+)/g)) fromC[m[1]!] = Number(m[2])
    expect(fromC).toEqual({ ...Counter })
  })

  test("compiled maps' key/value sizes equal the codecs' sizes", () => {
    const spec = openObject(bpfObjectBytes('vxlan'), { name: 'vxlan-abi' })
    try {
      const maps = Object.fromEntries(spec.maps.map((m) => [m.name, m]))
      const want: Record<string, [number, number]> = {
        vx_cfg: [4, configCodec.size],
        vx_nets: [4, netCodec.size],
        vx_eps: [epKeyCodec.size, epCodec.size],
        vx_ifs: [4, ifCodec.size],
        vx_members: [memberKeyCodec.size, 4],
        vx_stats: [statKeyCodec.size, statCodec.size],
      }
      expect(Object.keys(want).sort()).toEqual([...MAP_NAMES].sort())
      for (const name of MAP_NAMES) {
        expect(maps[name], `map ${name} in the object`).toBeDefined()
        expect([maps[name]!.keySize, maps[name]!.valueSize], name).toEqual(want[name]!)
        expect(name.length).toBeLessThanOrEqual(15)
      }
    } finally {
      spec.close()
    }
  })
})
