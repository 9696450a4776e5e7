// Where a process's kernel (sys) time goes, from `perf script` of a `perf record -a -g
// --kernel-callchains -e cpu-clock -c PERIOD`: each kernel sample is put under the syscall (or
// other kernel entry) its callchain starts from, and rtnetlink and bpf() samples under the
// request they serve (rtnl_newlink, tc_new_tfilter, map_lookup_elem...). Used by
// bench/sys-split.ts; pure, so tested without perf (test/bench/kernel-split.test.ts).
//
// Why by callchain and not by leaf symbol (as bench/lib/cpu-profile.ts does for packets): the
// question is which of the agent's calls costs the kernel time — a spinlock or an RCU wait is
// the same leaf whoever took it.

/** One sample of `perf script -F comm,pid,tid,period,ip,sym`: who, how much, kernel frames leaf first. */
export interface Sample {
  comm: string
  pid: number
  tid: number
  /** ns of CPU the sample stands for (cpu-clock counts ns) */
  period: number
  /** kernel frames, leaf first; empty for a sample in user space */
  frames: string[]
}

/** Split `perf script` text into samples (frames without their +offset). */
export function parsePerfScript(text: string): Sample[] {
  const out: Sample[] = []
  let cur: Sample | undefined
  for (const line of text.split('\n')) {
    if (line === '') {
      cur = undefined
      continue
    }
    if (line.startsWith('\t') || line.startsWith(' ')) {
      if (!cur) continue
      // "\tffffffff81e9460d consume_skb+0x1d ([kernel.kallsyms])"
      const m = /^\s*[0-9a-f]+\s+(\S+?)(\+0x[0-9a-f]+)?\s+\((.*)\)\s*$/.exec(line)
      if (!m) throw new Error(`perf script frame line not "<ip> <sym> (<dso>)": ${line}`)
      if (m[3] === '[kernel.kallsyms]' || m[3]!.startsWith('[')) cur.frames.push(m[1]!)
      continue
    }
    // "weft 12316/12317 [000] 64887.992104:    1000000 cpu-clock: " (cpu and time optional)
    const m = /^(.*?)\s*(-?\d+)\/(-?\d+)\s+(?:\[\d+\]\s+)?(?:[\d.]+:\s+)?(\d+)\s+\S+:\s*$/.exec(
      line,
    )
    if (!m)
      throw new Error(`perf script sample line not "<comm> <pid>/<tid> <period> <event>:": ${line}`)
    cur = {
      comm: m[1]!.trim(),
      pid: Number(m[2]),
      tid: Number(m[3]),
      period: Number(m[4]),
      frames: [],
    }
    out.push(cur)
  }
  return out
}

/** A syscall's name from its entry frame ("__x64_sys_sendto" -> "sendto"). */
function syscallName(frame: string): string | undefined {
  const m = /^(?:__x64_sys_|__do_sys_|__se_sys_|__ia32_sys_)(\w+)$/.exec(frame)
  return m?.[1]
}

/**
 * The syscall of a chain whose __x64_sys_ frame was inlined away (x64_sys_call -> ksys_read):
 * the frame nearest the root named ksys_X, __sys_X or do_sys_X.
 */
function innerSyscallName(frame: string): string | undefined {
  const m =
    /^(?:ksys_|__sys_|do_sys_|__do_sys_)(\w+?)(?:\.isra\.\d+|\.part\.\d+|\.constprop\.\d+)*$/.exec(
      frame,
    )
  return m?.[1]
}

/** rtnetlink handlers by the frame the kernel calls from netlink_rcv_skb / rtnetlink_rcv_msg. */
const RTNL_HANDLER =
  /^(rtnl_newlink|rtnl_dellink|rtnl_setlink|rtnl_getlink|tc_modify_qdisc|tc_get_qdisc|tc_new_tfilter|tc_del_tfilter|tc_get_tfilter|tc_dump_tfilter|tc_dump_qdisc|inet_rtm_newaddr|inet_rtm_deladdr|inet_rtm_newroute|inet_rtm_delroute|rtnl_dump_ifinfo|inet_dump_ifaddr|inet_dump_fib|rtnl_fdb_add|rtnl_fdb_del|rtnl_fdb_dump|neigh_add|neigh_delete|neigh_dump_info|rtnl_dumpit|netlink_dump)$/

/** bpf() commands by the function __sys_bpf dispatches to. */
const BPF_CMD =
  /^(map_lookup_elem|map_update_elem|map_delete_elem|map_get_next_key|generic_map_lookup_batch|generic_map_update_batch|generic_map_delete_batch|htab_map_lookup_batch|htab_percpu_map_lookup_batch|htab_map_lookup_and_delete_batch|bpf_map_do_batch|bpf_prog_load|map_create|bpf_obj_get|bpf_obj_pin|bpf_link_create|link_create|bpf_prog_get_fd_by_id|bpf_obj_get_info_by_fd|bpf_map_get_fd_by_id|bpf_prog_test_run|bpf_btf_load|bpf_link_update|link_update)$/

/** Leaves that mean waiting for a lock by spinning (the CPU is busy, nothing is done). */
const SPIN =
  /^(mutex_spin_on_owner|osq_lock|native_queued_spin_lock_slowpath|__mutex_lock|rwsem_spin_on_owner|queued_spin_lock_slowpath|__pv_queued_spin_lock_slowpath|pv_native_safe_halt)$/

/**
 * What a kernel sample was doing, by its callchain (leaf first): "sendto: rtnl_newlink",
 * "bpf: map_lookup_elem", "futex", "page fault", "irq/softirq", ... A spinning wait on a lock
 * under rtnetlink is "…: (lock spin)" so RTNL contention is told from the work itself.
 */
export function classify(frames: readonly string[]): string {
  if (frames.length === 0) return 'user'
  // the entry: the frame nearest the root that names a syscall, or an exception/interrupt
  let sys: string | undefined
  let sysAt = -1
  for (let i = frames.length - 1; i >= 0; i--) {
    const n = syscallName(frames[i]!)
    if (n) {
      sys = n
      sysAt = i
      break
    }
  }
  if (sys === undefined && frames.some((f) => f === 'do_syscall_64')) {
    for (let i = frames.length - 1; i >= 0; i--) {
      const n = innerSyscallName(frames[i]!)
      if (n) {
        sys = n === 'openat2' ? 'openat' : n
        sysAt = i
        break
      }
    }
  }
  if (sys === undefined) {
    const f = frames.join(' ')
    if (/\basm_exc_page_fault\b|\bexc_page_fault\b/.test(f)) return 'page fault'
    if (/\b(asm_sysvec_|asm_common_interrupt|__do_softirq|handle_softirqs|irq_exit)/.test(f))
      return 'irq/softirq'
    if (/\bret_from_fork/.test(f)) return 'new thread start'
    if (/\b(entry_SYSCALL|do_syscall_64|syscall_exit_to_user_mode|exit_to_user_mode)/.test(f))
      return 'syscall return (signals, resched)'
    return `other (${frames[frames.length - 1]})`
  }
  // hardware interrupts taken inside a syscall are charged to the interrupt; softirqs run
  // when the syscall itself enables BHs (a TCP send delivering to a local socket) stay its own
  for (let i = 0; i < sysAt; i++)
    if (/^(asm_sysvec_|asm_common_interrupt)/.test(frames[i]!)) return 'irq/softirq'
  const spin = SPIN.test(frames[0]!) ? ' (lock spin)' : ''
  if (sys === 'sendto' || sys === 'sendmsg' || sys === 'recvfrom' || sys === 'recvmsg') {
    for (let i = sysAt - 1; i >= 0; i--) {
      if (RTNL_HANDLER.test(frames[i]!)) return `${sys}: ${frames[i]}${spin}`
    }
    if (frames.slice(0, sysAt).some((f) => /^netlink_/.test(f)))
      return `${sys}: netlink other${spin}`
    const inner = frames.slice(0, sysAt)
    if (inner.some((f) => /^tcp_/.test(f))) return `${sys}: tcp`
    if (inner.some((f) => /^unix_/.test(f))) return `${sys}: unix`
    return `${sys}${spin}`
  }
  if (sys === 'read' || sys === 'pread64' || sys === 'readv') {
    const inner = frames.slice(0, sysAt)
    if (inner.some((f) => f === 'dev_seq_show' || f === 'dev_seq_printf_stats'))
      return `${sys}: /proc/net/dev`
    if (inner.some((f) => /^tcp_/.test(f))) return `${sys}: tcp`
    if (inner.some((f) => /^(proc_|seq_read)/.test(f))) return `${sys}: procfs`
    if (inner.some((f) => /^(kernfs_|sysfs_)/.test(f))) return `${sys}: sysfs`
  }
  if (sys === 'write' || sys === 'writev') {
    const inner = frames.slice(0, sysAt)
    if (inner.some((f) => /^eventfd/.test(f))) return `${sys}: eventfd`
    if (inner.some((f) => /^tcp_/.test(f))) return `${sys}: tcp`
    if (inner.some((f) => /^unix_/.test(f))) return `${sys}: unix`
  }
  if (sys === 'bpf') {
    for (let i = sysAt - 1; i >= 0; i--) if (BPF_CMD.test(frames[i]!)) return `bpf: ${frames[i]}`
    return 'bpf: other'
  }
  return `${sys}${spin}`
}

/** ns of CPU per class, per process, and per thread name within the process. */
export interface KernelSplit {
  /** pid -> class -> ns */
  byPid: Map<number, Map<string, number>>
  /** pid -> thread comm -> { user, kernel } ns */
  threads: Map<number, Map<string, { user: number; kernel: number }>>
  /** pid -> leaf kernel symbol -> ns (for what the classes do not explain) */
  leaves: Map<number, Map<string, number>>
}

/** Sum samples of the given processes (all when `pids` is undefined). */
export function splitSamples(samples: Iterable<Sample>, pids?: ReadonlySet<number>): KernelSplit {
  const byPid = new Map<number, Map<string, number>>()
  const threads = new Map<number, Map<string, { user: number; kernel: number }>>()
  const leaves = new Map<number, Map<string, number>>()
  const add = <K>(m: Map<K, number>, k: K, v: number) => m.set(k, (m.get(k) ?? 0) + v)
  for (const s of samples) {
    if (pids && !pids.has(s.pid)) continue
    const cls = classify(s.frames)
    let c = byPid.get(s.pid)
    if (!c) byPid.set(s.pid, (c = new Map()))
    add(c, cls, s.period)
    let t = threads.get(s.pid)
    if (!t) threads.set(s.pid, (t = new Map()))
    const name = threadKind(s.comm, s.pid === s.tid)
    const e = t.get(name) ?? { user: 0, kernel: 0 }
    if (s.frames.length) e.kernel += s.period
    else e.user += s.period
    t.set(name, e)
    if (s.frames.length) {
      let l = leaves.get(s.pid)
      if (!l) leaves.set(s.pid, (l = new Map()))
      add(l, s.frames[0]!, s.period)
    }
  }
  return { byPid, threads, leaves }
}

/** Thread names folded into kinds ("HeapHelper3" -> "HeapHelper"); the main thread is "main". */
export function threadKind(comm: string, main: boolean): string {
  if (main) return 'main'
  return comm.replace(/\d+$/, '') || comm
}
