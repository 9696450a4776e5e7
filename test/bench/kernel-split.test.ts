// bench/lib/kernel-split.ts and bench/lib/trace-summary.ts without perf: samples put under the
// syscall and rtnetlink / bpf() request their callchain starts from.
import { describe, expect, test } from 'bun:test'
import {
  classify,
  parsePerfScript,
  splitSamples,
  threadKind,
} from '../../bench/lib/kernel-split.ts'
import { parseTraceSummary } from '../../bench/lib/trace-summary.ts'

const SCRIPT = `weft 100/100    1000000 cpu-clock: 
\tffffffff81e9460d flow_indr_dev_setup_offload+0x1d ([kernel.kallsyms])
\tffffffff81f53ac6 tcf_block_offload_cmd.isra.0+0x6 ([kernel.kallsyms])
\tffffffff81f53eef tc_modify_qdisc ([kernel.kallsyms])
\tffffffff81f568d9 netlink_rcv_skb ([kernel.kallsyms])
\tffffffff81e7f080 __x64_sys_sendto ([kernel.kallsyms])
\tffffffff8225a101 do_syscall_64 ([kernel.kallsyms])
\tffffffff81000130 entry_SYSCALL_64_after_hwframe ([kernel.kallsyms])

weft 100/100    1000000 cpu-clock: 

Worker 100/107    1000000 cpu-clock: 
\tffffffff81658b07 fsync_buffers_list ([kernel.kallsyms])
\tffffffff81658b07 __x64_sys_fsync ([kernel.kallsyms])
\tffffffff8225a101 do_syscall_64 ([kernel.kallsyms])

:-1 200/-1    1000000 cpu-clock: 

`

describe('parsePerfScript', () => {
  test('samples with their kernel frames, leaf first, offsets dropped; user samples have none', () => {
    const s = parsePerfScript(SCRIPT)
    expect(s).toHaveLength(4)
    expect(s[0]).toMatchObject({ comm: 'weft', pid: 100, tid: 100, period: 1_000_000 })
    expect(s[0]!.frames[0]).toBe('flow_indr_dev_setup_offload')
    expect(s[0]!.frames[1]).toBe('tcf_block_offload_cmd.isra.0')
    expect(s[1]!.frames).toEqual([])
    expect(s[2]).toMatchObject({ comm: 'Worker', tid: 107 })
    expect(s[3]).toMatchObject({ pid: 200, tid: -1 }) // perf's "unknown thread"
  })
  test('a line that is neither a sample nor a frame is an error, not a silent skip', () => {
    expect(() => parsePerfScript('garbage here\n')).toThrow(/perf script sample line/)
    expect(() => parsePerfScript('weft 1/1 1000 cpu-clock:\n\tnot a frame\n')).toThrow(
      /perf script frame line/,
    )
  })
})

describe('classify', () => {
  const sys = (...inner: string[]) => [
    ...inner,
    '__x64_sys_sendto',
    'do_syscall_64',
    'entry_SYSCALL_64_after_hwframe',
  ]
  test.each([
    [
      sys('flow_indr_dev_setup_offload', 'tc_modify_qdisc', 'netlink_rcv_skb'),
      'sendto: tc_modify_qdisc',
    ],
    [sys('fib6_ifdown', 'rtnl_setlink', 'netlink_rcv_skb'), 'sendto: rtnl_setlink'],
    [
      sys('mutex_spin_on_owner', '__mutex_lock', 'rtnl_newlink'),
      'sendto: rtnl_newlink (lock spin)',
    ],
    [sys('tcp_write_xmit', 'tcp_sendmsg'), 'sendto: tcp'],
    [
      ['htab_map_lookup_elem', 'map_lookup_elem', '__sys_bpf', '__x64_sys_bpf', 'do_syscall_64'],
      'bpf: map_lookup_elem',
    ],
    // the __x64_sys_ frame inlined away: named by ksys_read, and what it reads
    [
      ['dev_seq_show', 'seq_read_iter', 'ksys_read', 'x64_sys_call', 'do_syscall_64'],
      'read: /proc/net/dev',
    ],
    [
      ['clear_page_erms', 'do_anonymous_page', 'exc_page_fault', 'asm_exc_page_fault'],
      'page fault',
    ],
    [
      ['tcp_v4_rcv', 'handle_softirqs', '__irq_exit_rcu', 'asm_sysvec_apic_timer_interrupt'],
      'irq/softirq',
    ],
    [[], 'user'],
  ])('%j -> %s', (frames, want) => {
    expect(classify(frames)).toBe(want)
  })
  test('a hardware interrupt inside a syscall is the interrupt, a softirq the syscall runs is the syscall', () => {
    expect(classify(sys('handle_softirqs', 'asm_common_interrupt', 'tcp_sendmsg'))).toBe(
      'irq/softirq',
    )
    expect(
      classify(sys('net_rx_action', 'handle_softirqs', '__local_bh_enable_ip', 'tcp_sendmsg')),
    ).toBe('sendto: tcp')
  })
})

describe('splitSamples', () => {
  test('per process by class, per thread kind user/kernel, leaves; other processes left out', () => {
    const r = splitSamples(parsePerfScript(SCRIPT), new Set([100]))
    const c = r.byPid.get(100)!
    expect(c.get('sendto: tc_modify_qdisc')).toBe(1_000_000)
    expect(c.get('user')).toBe(1_000_000)
    expect(c.get('fsync')).toBe(1_000_000)
    expect(r.byPid.has(200)).toBe(false)
    expect(r.threads.get(100)!.get('main')).toEqual({ user: 1_000_000, kernel: 1_000_000 })
    expect(r.threads.get(100)!.get('Worker')).toEqual({ user: 0, kernel: 1_000_000 })
    expect(r.leaves.get(100)!.get('flow_indr_dev_setup_offload')).toBe(1_000_000)
  })
  test('thread names fold their number', () => {
    expect(threadKind('HeapHelper3', false)).toBe('HeapHelper')
    expect(threadKind('weft', true)).toBe('main')
  })
})

describe('parseTraceSummary', () => {
  test('per thread: calls, errors and msec per syscall', () => {
    const text = `
 Summary of events:

 weft (14941), 3016 events, 93.5%

   syscall            calls  errors  total       min       avg       max       stddev
                                     (msec)    (msec)    (msec)    (msec)        (%)
   --------------- --------  ------ -------- --------- --------- ---------     ------
   sendto               209    104   726.391     0.000     3.476    14.042      9.89%
   bpf                  104      0    22.962     0.114     0.221     0.447      2.61%

 Worker (14950), 10 events, 1.0%

   syscall            calls  errors  total       min       avg       max       stddev
   --------------- --------  ------ -------- --------- --------- ---------     ------
   fsync                  5      0     9.638     0.005     0.012     0.795     10.90%
`
    const t = parseTraceSummary(text)
    expect(t.map((x) => [x.comm, x.tid])).toEqual([
      ['weft', 14941],
      ['Worker', 14950],
    ])
    expect(t[0]!.calls.get('sendto')).toEqual({ calls: 209, errors: 104, msec: 726.391 })
    expect(t[1]!.calls.get('fsync')?.calls).toBe(5)
  })
})
