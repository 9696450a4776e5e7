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
  progress: (what, fig) => {
    if (what.startsWith('attach ') && what.includes('concurrently')) before = snapshot()
    if (what === 'converged') after = snapshot()
    console.log(
      `${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s  ${what}${fig ? `  ${fig}` : ''}`,
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
