// bench/lib/rps.ts: the --host-rps / --ep-rps flags of bench/reorder.ts and bench/cpu-breakdown.ts.
// The sysfs write runs against a veth in a namespace of this test's own (needs root: fails loudly
// without it).
import { describe, expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { parseColumnSteerings, parseSteering, setSteering } from '../../bench/lib/rps.ts'
import { mustRunIn, run } from '../harness/index.ts'

describe('parseSteering', () => {
  test('MASK is plain RPS, MASK:rfs adds a flow table', () => {
    expect(parseSteering('ep-rps', 'erfs:3:rfs')).toEqual({
      name: 'erfs',
      mask: '3',
      flowCnt: 4096,
    })
    expect(parseSteering('host-rps', 'rps:f')).toEqual({ name: 'rps', mask: 'f', flowCnt: 0 })
  })
  test('anything else is an error naming the flag and the form', () => {
    expect(() => parseSteering('ep-rps', 'erfs')).toThrow('--ep-rps erfs: use name:MASK')
    expect(() => parseSteering('ep-rps', 'erfs:all')).toThrow('use name:MASK')
    expect(() => parseSteering('ep-rps', 'erfs:3:rps')).toThrow('use name:MASK')
  })
  test('a steering for a column the run does not have is an error', () => {
    expect(() =>
      parseColumnSteerings({ 'host-rps': [], 'ep-rps': ['nope:3:rfs'] }, ['routed', 'bpf']),
    ).toThrow('--ep-rps nope:3:rfs: no column named nope')
    expect(
      parseColumnSteerings({ 'host-rps': ['bpf:3'], 'ep-rps': ['bpf:3:rfs'] }, ['bpf']).map(
        (s) => s.side,
      ),
    ).toEqual(['host', 'endpoint'])
  })
})

describe('setSteering', () => {
  test('sets rps_cpus and rps_flow_cnt of a device in another namespace, read back there', async () => {
    if (process.getuid?.() !== 0) throw new Error('this test creates a namespace: run it as root')
    const ns = `wt-rps-${randomBytes(3).toString('hex')}`
    const made = await run(['ip', 'netns', 'add', ns])
    if (made.code !== 0) throw new Error(`ip netns add ${ns}: ${made.stderr}`)
    try {
      await mustRunIn(ns, ['ip', 'link', 'add', 'rpsa', 'type', 'veth', 'peer', 'name', 'rpsb'])
      await setSteering(ns, 'rpsb', { mask: '1', flowCnt: 4096 })
      const r = await mustRunIn(ns, [
        'unshare',
        '-m',
        '--propagation',
        'private',
        'sh',
        '-ec',
        'mount -t sysfs sysfs /sys && cat /sys/class/net/rpsb/queues/rx-0/rps_cpus /sys/class/net/rpsb/queues/rx-0/rps_flow_cnt',
      ])
      const [mask, cnt] = r.stdout.trim().split('\n')
      expect(parseInt(mask!.replace(/,/g, ''), 16)).toBe(1)
      expect(Number(cnt)).toBe(4096)
      await expect(setSteering(ns, 'nodev', { mask: '1', flowCnt: 0 })).rejects.toThrow(
        `rps_cpus=1 on nodev in ${ns}`,
      )
    } finally {
      await run(['ip', 'netns', 'del', ns])
    }
  })
})
