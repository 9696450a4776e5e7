// The CPU-profile grouping of bench/cpu-breakdown.ts (bench/lib/cpu-profile.ts), without perf.
import { describe, expect, test } from 'bun:test'
import { groupOf, parsePerfReport, GROUP_NAMES, SHORT_LABEL } from '../../bench/lib/cpu-profile.ts'

describe('groupOf', () => {
  test.each([
    ['bpf_prog_6deef7357e7b4530_vx_from_ep', 'bpf programs'],
    ['lookup_nulls_elem_raw', 'bpf map lookups'],
    ['bpf_skb_adjust_room', 'bpf helpers, tc hook'],
    ['tcp_gro_receive', 'GRO'], // GRO before tcp
    ['vxlan_gro_receive', 'GRO'],
    ['skb_udp_tunnel_segment', 'GSO, segmentation'],
    ['_copy_from_iter', 'copy user<->skb'],
    ['csum_partial', 'checksum'],
    ['pskb_expand_head', 'skb alloc/free'],
    ['veth_xmit', 'veth, backlog'],
    ['tcp_sendmsg_locked', 'tcp, socket'],
    ['fib_table_lookup', 'ip, routing, netfilter'],
    ['br_handle_frame_finish', 'bridges'],
    ['net_rx_action', 'device xmit, softirq core'],
    ['pv_native_safe_halt', 'idle'],
    ['exc_page_fault', 'syscalls, sched, other kernel'],
  ])('%s -> %s', (sym, group) => {
    expect(groupOf(sym, true)).toBe(group)
  })
  test('spinlocks are not routing (raw sockets are)', () => {
    expect(groupOf('_raw_spin_unlock_irqrestore', true)).toBe('syscalls, sched, other kernel')
    expect(groupOf('raw_local_deliver', true)).toBe('ip, routing, netfilter')
  })
  test('cgroup accounting is not GRO', () => {
    expect(groupOf('__cgroup_account_cputime', true)).toBe('syscalls, sched, other kernel')
  })
  test('user-space symbols are user space whatever their name', () => {
    expect(groupOf('tcp_gro_receive', false)).toBe('user space')
  })
  test('every reported group is a table row; idle is not', () => {
    expect(GROUP_NAMES).not.toContain('idle')
    expect(GROUP_NAMES).toContain('user space')
  })
})

describe('parsePerfReport', () => {
  const text = [
    '12\t4242:iperf3\t[k] _copy_from_iter',
    '3\t0:swapper/1\t[k] tcp_gro_receive',
    '100\t0:swapper/0\t[k] pv_native_safe_halt',
    '5\t17:ksoftirqd/1\t[k] veth_xmit',
    '7\t999:bun\t[.] 0x000000000183cff1',
    '2\t4242:iperf3\t[.] main',
    '1\t-1::-1\t[k] __rcu_read_lock', // a sample perf could not tie to a thread
    '4\t0:swapper\t[k] veth_xmit', // perf 6.1 names the idle task "swapper", no /N
    '',
  ].join('\n')
  test('splits the run from the rest of the machine, drops idle, converts samples to ns', () => {
    const p = parsePerfReport(text, 1000, new Set([4242]))
    expect(p.ours).toEqual({
      'copy user<->skb': 12_000,
      GRO: 3000,
      'veth, backlog': 9000,
      'user space': 2000,
    })
    expect(p.elsewhereNs).toBe(8000)
    expect(Object.keys(p.topSymbols)[0]).toBe('_copy_from_iter')
    expect(p.topSymbols).not.toHaveProperty('main') // kernel symbols only
  })
  test('with a cpu column, the run is split by CPU too', () => {
    const byCpu = [
      '12\t000\t4242:iperf3\t[k] _copy_from_iter',
      '3\t001\t0:swapper\t[k] tcp_gro_receive',
      '4\t000\t0:swapper\t[k] veth_xmit',
      '9\t001\t999:bun\t[k] veth_xmit',
    ].join('\n')
    const p = parsePerfReport(byCpu, 1000, new Set([4242]))
    expect(p.oursByCpu).toEqual({
      0: { 'copy user<->skb': 12_000, 'veth, backlog': 4000 },
      1: { GRO: 3000 },
    })
    expect(p.ours['veth, backlog']).toBe(4000)
    expect(p.elsewhereNs).toBe(9000)
    expect(parsePerfReport(text, 1000, new Set([4242])).oursByCpu).toEqual({})
  })
  test('a line it cannot read is an error, not a silent gap', () => {
    expect(() => parsePerfReport('12 iperf3 _copy_from_iter\n', 1000, new Set())).toThrow(
      /perf report line/,
    )
    expect(() => parsePerfReport('12\tx\t1:a\t[k] f\n', 1000, new Set())).toThrow(
      /perf report line/,
    )
  })
})

test('every group has a short chart label', () => {
  for (const g of GROUP_NAMES) expect(SHORT_LABEL[g], g).toBeDefined()
})
