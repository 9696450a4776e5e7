// `perf trace -s` summaries (per thread: syscall, calls, errors, total msec), for
// bench/sys-split.ts. Pure, so tested without perf (test/bench/kernel-split.test.ts).

export type SyscallCounts = Map<string, { calls: number; errors: number; msec: number }>

export interface ThreadSummary {
  comm: string
  tid: number
  calls: SyscallCounts
}

/**
 * " bash (14941), 3016 events, 93.5%" starts a thread; "   wait4   209   104   726.391 ..."
 * rows follow its header lines.
 */
export function parseTraceSummary(text: string): ThreadSummary[] {
  const out: ThreadSummary[] = []
  let cur: ThreadSummary | undefined
  for (const line of text.split('\n')) {
    const head = /^\s(.+) \((\d+)\), \d+ events/.exec(line)
    if (head) {
      cur = { comm: head[1]!, tid: Number(head[2]), calls: new Map() }
      out.push(cur)
      continue
    }
    const row = /^\s+([a-z_0-9]+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+[\d.]+\s+[\d.]+\s+[\d.]+/.exec(line)
    if (row && cur && row[1] !== 'syscall') {
      const e = cur.calls.get(row[1]!) ?? { calls: 0, errors: 0, msec: 0 }
      e.calls += Number(row[2])
      e.errors += Number(row[3])
      e.msec += Number(row[4])
      cur.calls.set(row[1]!, e)
    }
  }
  return out
}
