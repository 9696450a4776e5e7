// CPU profile of a benchmark run from `perf report` output: kernel symbols grouped by what they
// do for a packet (GRO, copies, skb allocation, bpf...), counted apart for the contexts that carry
// the run's packets and for the rest of the machine. Used by bench/cpu-breakdown.ts; pure, so
// tested without perf (test/bench/cpu-profile.test.ts).

/**
 * Where a kernel symbol's time goes, first match wins (order matters: tcp_gro_receive is GRO,
 * csum_and_copy is copying).
 */
export const GROUPS: readonly [string, RegExp][] = [
  [
    'idle',
    /^(default_idle|pv_native_safe_halt|native_safe_halt|arch_cpu_idle|cpuidle|do_idle|acpi_idle|mwait|poll_idle|intel_idle)/,
  ],
  ['bpf programs', /^bpf_prog_/],
  [
    'bpf map lookups',
    /(lookup_nulls_elem_raw|lookup_elem_raw|htab|percpu_array|array_map|trie_lookup)/,
  ],
  [
    'bpf helpers, tc hook',
    /^(bpf_|____bpf|__bpf|sk_skb_|skb_do_redirect|tcf_|tcx_|sch_handle_|cls_bpf|htab_|__htab|skb_ensure_writable)/,
  ],
  // the bench's underlay switch (a bridge in a namespace, every mode pays it alike) and the
  // kernel datapath's own bridge
  ['bridges', /^(br_|__br_|fdb_|nbp_)/],
  ['GRO', /(^|_)gro(_|$)|gro_cells/],
  ['GSO, segmentation', /(gso|segment|validate_xmit)/],
  ['copy user<->skb', /(copy|memcpy|memmove|rep_mov|datagram_iter|memset)/],
  ['checksum', /csum/],
  [
    'skb alloc/free',
    /(alloc|kmem_cache|kmalloc|kfree|free|slab|skb_release|consume_skb|skb_clone|pskb_|defer|page_frag|skb_ext|put_page|get_page|folio|alloc_pages|free_pages|page_pool|build_skb|skb_head|skb_cache)/,
  ],
  ['vxlan, udp', /(vxlan|udp|iptunnel|ip_tunnel)/],
  [
    'veth, backlog',
    /(veth|netif_rx|enqueue_to_backlog|process_backlog|netif_receive|rps_|backlog)/,
  ],
  [
    'tcp, socket',
    /(tcp|^inet_|sk_stream|sock|^sk_|^__sk_|skb_entail|skb_set_owner|sk_reset_timer)/,
  ],
  [
    'ip, routing, netfilter',
    // raw sockets anchored: an unanchored raw_ took _raw_spin_unlock_irqrestore (where a VM's
    // pending interrupts land, often the largest single symbol) for routing
    /(^ip_|^__ip|^ipv4|fib|^dst_|neigh|nf_|ipt_|route|^rt_|icmp|l3mdev|^raw_)/,
  ],
  [
    'device xmit, softirq core',
    /(dev_queue_xmit|dev_hard_start_xmit|qdisc|net_rx_action|^__dev_|^dev_|netdev|napi|softirq|irq_exit|local_bh|eth_type_trans|^skb_|^__skb_|^kfree_skb)/,
  ],
]
export const OTHER_KERNEL = 'syscalls, sched, other kernel'
export const USER = 'user space'

export function groupOf(sym: string, kernel: boolean): string {
  if (!kernel) return USER
  for (const [name, re] of GROUPS) if (re.test(sym)) return name
  return OTHER_KERNEL
}

/** Every group a profile reports, in table order (idle is dropped). */
export const GROUP_NAMES: readonly string[] = [
  ...GROUPS.map(([g]) => g).filter((g) => g !== 'idle'),
  OTHER_KERNEL,
  USER,
]

/** Short labels for chart axes (the table uses the full names). */
export const SHORT_LABEL: Readonly<Record<string, string>> = {
  'bpf programs': 'bpf progs',
  'bpf map lookups': 'bpf maps',
  'bpf helpers, tc hook': 'bpf helpers',
  bridges: 'bridges',
  GRO: 'GRO',
  'GSO, segmentation': 'GSO',
  'copy user<->skb': 'copy',
  checksum: 'csum',
  'skb alloc/free': 'skb alloc',
  'vxlan, udp': 'vxlan/udp',
  'veth, backlog': 'veth',
  'tcp, socket': 'tcp',
  'ip, routing, netfilter': 'ip/route/nf',
  'device xmit, softirq core': 'dev/softirq',
  [OTHER_KERNEL]: 'other kernel',
  [USER]: 'user',
}

export interface Profile {
  /** ns of CPU per group, in the contexts that carry the run's packets (idle excluded). */
  ours: Record<string, number>
  /** ns of CPU elsewhere on the machine (other load, perf itself), idle excluded. */
  elsewhereNs: number
  /** `ours` split by CPU (only when the report has a cpu column), ns per group. */
  oursByCpu: Record<number, Record<string, number>>
  /** the largest kernel symbols of `ours`, ns */
  topSymbols: Record<string, number>
}

/**
 * `perf report --no-children -F sample[,cpu],pid,sym -t '\t' -q` of a fixed-period record (each
 * sample = `periodNs` of CPU). With the cpu column, `oursByCpu` tells the sending CPU's work
 * from the receiving one's (64 B UDP: the sender's CPU carries the whole path in softirq). A sample carries the run's packets when it is in one of
 * `ourPids` (the run's own processes), a ksoftirqd thread or the idle task (softirqs taken
 * while idle); everything else is other load.
 */
export function parsePerfReport(
  text: string,
  periodNs: number,
  ourPids: ReadonlySet<number>,
): Profile {
  const ours: Record<string, number> = {}
  const oursByCpu: Record<number, Record<string, number>> = {}
  const symbols: Record<string, number> = {}
  let elsewhereNs = 0
  for (const line of text.split('\n')) {
    // "<samples>[\t<cpu>]\t<pid>:<comm>\t[k] <symbol>"
    if (line.trim() === '') continue
    const cols = line.split('\t').map((s) => s.trim())
    const [samples, cpuCol, pidComm, sym] =
      cols.length === 4 ? cols : [cols[0], undefined, ...cols.slice(1)]
    const m = /^(-?\d+):(.*)$/.exec(pidComm ?? '')
    const s = /^\[(.)\]\s+(.*)$/.exec(sym ?? '')
    if (
      cols.length < 3 ||
      cols.length > 4 ||
      !/^\d+$/.test(samples ?? '') ||
      (cpuCol !== undefined && !/^\d+$/.test(cpuCol)) ||
      !m ||
      !s
    )
      throw new Error(
        `perf report line not "<samples>[\\t<cpu>]\\t<pid>:<comm>\\t[k] <symbol>": ${line}`,
      )
    const ns = Number(samples) * periodNs
    const pid = Number(m[1])
    const comm = m[2]!
    const group = groupOf(s[2]!, s[1] === 'k')
    if (group === 'idle') continue
    // the idle task is pid 0, "swapper" in perf's report ("swapper/N" only in some versions)
    const carriesPackets =
      ourPids.has(pid) || comm.startsWith('ksoftirqd/') || pid === 0 || comm.startsWith('swapper')
    if (!carriesPackets) {
      elsewhereNs += ns
      continue
    }
    ours[group] = (ours[group] ?? 0) + ns
    if (cpuCol !== undefined) {
      const byGroup = (oursByCpu[Number(cpuCol)] ??= {})
      byGroup[group] = (byGroup[group] ?? 0) + ns
    }
    if (s[1] === 'k') symbols[s[2]!] = (symbols[s[2]!] ?? 0) + ns
  }
  const topSymbols = Object.fromEntries(
    Object.entries(symbols)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 80),
  )
  return { ours, oursByCpu, elsewhereNs, topSymbols }
}
