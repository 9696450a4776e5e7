// Scratch probe (not part of `bun test`): the bench's convergence workload alone, with the
// CPU each of this run's processes used while it converged (user/sys; own, not children).
// Usage: bun run test/perf/converge.perf.ts [endpoints] [networks] [bpf|kernel] [attaches] [--etcd]
// The embedded store only unless --etcd. Only processes naming one of this run's nodes count
// (other benches or tests on the machine run agents too); agent 1 is the store host.
import { readdirSync, readFileSync } from 'node:fs'
import { runControlPlane } from '../../bench/lib/control-plane.ts'

interface Proc {
  cmd: string
  user: number
  sys: number
}

/** Every agent and datapath driver on the machine, and this process, by pid. */
function snapshot(): Map<number, Proc> {
  const out = new Map<number, Proc>()
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ')
      if (!/ agent |driver\.ts/.test(cmd) && Number(pid) !== process.pid) continue
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      out.set(Number(pid), { cmd, user: Number(f[11]) / 100, sys: Number(f[12]) / 100 })
    } catch {
      // the process ended between readdir and read: it has no CPU to count any more
    }
  }
  return out
}

/** CPU-s between two snapshots of this run's processes: per agent (user/sys), drivers, probe. */
function split(before: Map<number, Proc>, after: Map<number, Proc>, nodes: string[]): string {
  const used = (pid: number, p: Proc) => {
    const b = before.get(pid)
    return { user: p.user - (b?.user ?? 0), sys: p.sys - (b?.sys ?? 0) }
  }
  const parts: string[] = []
  let agents = 0
  let drivers = 0
  for (const [pid, p] of after) {
    const node = nodes.findIndex((n) => p.cmd.includes(` ${n}`))
    if (pid === process.pid) {
      const u = used(pid, p)
      parts.push(`probe ${(u.user + u.sys).toFixed(1)}`)
    } else if (node < 0) continue
    else if (/ agent /.test(p.cmd)) {
      const u = used(pid, p)
      agents += u.user + u.sys
      parts.push(`agent${node + 1} ${u.user.toFixed(1)} user + ${u.sys.toFixed(1)} sys`)
    } else {
      const u = used(pid, p)
      drivers += u.user + u.sys
    }
  }
  return `agents ${agents.toFixed(1)} (${parts
    .filter((x) => x.startsWith('agent'))
    .sort()
    .join(
      ', ',
    )}), drivers ${drivers.toFixed(1)}, ${parts.filter((x) => x.startsWith('probe')).join('')}`
}

/** This run's agents (children of this process) by their admin API socket. */
function agentSockets(): { pid: number; socket: string }[] {
  const out: { pid: number; socket: string }[] = []
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== process.pid) continue
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      const api = argv[argv.indexOf('--api') + 1]
      if (argv.includes('agent') && api?.startsWith('unix://'))
        out.push({ pid: Number(pid), socket: api.slice(7) })
    } catch {
      // ended meanwhile
    }
  }
  return out.sort((a, b) => a.pid - b.pid)
}

/** weft_follow_work_total by step, and the JS heap, of each of this run's agents. */
async function work(): Promise<Map<number, Record<string, number>>> {
  const out = new Map<number, Record<string, number>>()
  for (const a of agentSockets()) {
    const text = await (await fetch('http://agent/metrics', { unix: a.socket })).text()
    const m: Record<string, number> = {}
    for (const [, step, v] of text.matchAll(/^weft_follow_work_total\{step="(\w+)"\} (\S+)$/gm))
      m[step!] = Number(v)
    const heap = text.match(/^weft_js_heap_bytes (\S+)$/m)
    if (heap) m.heap_mb = Number(heap[1]) / 2 ** 20
    out.set(a.pid, m)
  }
  return out
}

let work0 = new Map<number, Record<string, number>>()
let work1 = new Map<number, Record<string, number>>()
const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const t0 = performance.now()
let before = new Map<number, Proc>()
let after = new Map<number, Proc>()
const r = await runControlPlane({
  datapath: (positional[2] ?? 'bpf') as 'bpf' | 'kernel',
  attaches: Number(positional[3] ?? 3),
  endpoints: Number(positional[0] ?? 1000),
  networks: Number(positional[1] ?? 100),
  kvSeconds: 1,
  kv: false,
  etcd: process.argv.includes('--etcd'),
  idleSeconds: 3,
  convergeTimeoutMs: 180_000,
  progress: async (what, fig) => {
    if (what.startsWith('attach ') && what.includes('concurrently')) {
      before = snapshot()
      work0 = await work()
    }
    if (what === 'converged') {
      after = snapshot()
      work1 = await work()
    }
    // the epoch ms too: a profile's samples (test/perf/cpuprofile-window.ts) are cut to a phase by it
    console.log(
      `${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s  @${Date.now()}  ${what}${fig ? `  ${fig}` : ''}`,
    )
  },
})
console.log(
  'CPU s while converging: ' +
    split(
      before,
      after,
      r.agents.map((a) => a.node),
    ),
)
// what each agent did while converging (its own scrape at the start is in the figures)
for (const [pid, w1] of work1) {
  const w0 = work0.get(pid) ?? {}
  const delta = Object.entries(w1)
    .filter(([k]) => k !== 'heap_mb')
    .map(([k, v]) => `${k} ${v - (w0[k] ?? 0)}`)
  console.log(
    `agent pid ${pid} work while converging: ${delta.join(', ')}; heap ${w0.heap_mb?.toFixed(0)} -> ${w1.heap_mb?.toFixed(0)} MB`,
  )
}
console.log(
  JSON.stringify({
    attach: {
      ...r.attach,
      samplesMs: undefined,
      slow: r.attach.samplesMs.map((x, i) => [i, x]).filter(([, x]) => x! > 200),
    },
    converge: r.converge,
    agents: r.agents,
  }),
)
console.log(`load: ${readFileSync('/proc/loadavg', 'utf8').trim()}`)
