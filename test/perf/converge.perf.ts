// Scratch probe (not part of `bun test`): the bench's convergence workload alone, with the
// CPU each kind of process used while it converged (own + reaped children).
// Usage: bun run test/perf/converge.perf.ts [endpoints] [networks] [bpf|kernel] [attaches] [--etcd]
// The embedded store only unless --etcd. Agents are split per process (user/sys), agent 0 the store host.
import { readdirSync, readFileSync } from 'node:fs'
import { runControlPlane } from '../../bench/lib/control-plane.ts'

function cpuByKind(): Map<string, number> {
  const out = new Map<string, number>()
  const agents: [number, number, number][] = []
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ')
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const kind = / agent /.test(cmd)
        ? 'agents'
        : /driver\.ts/.test(cmd)
          ? 'drivers'
          : Number(pid) === process.pid
            ? 'probe'
            : ''
      if (!kind) continue
      const own = (Number(f[11]) + Number(f[12])) / 100
      if (kind === 'agents') agents.push([Number(pid), Number(f[11]) / 100, Number(f[12]) / 100])
      const kids = (Number(f[13]) + Number(f[14])) / 100
      out.set(kind, (out.get(kind) ?? 0) + own)
      out.set(kind + ' children', (out.get(kind + ' children') ?? 0) + kids)
    } catch {
      // the process ended between readdir and read: it has no CPU to count any more
    }
  }
  // agents in start order (pid order): agent 0 hosts the store
  agents.sort((a, b) => a[0] - b[0])
  agents.forEach(([, user, sys], i) => {
    out.set(`agent${i} user`, user)
    out.set(`agent${i} sys`, sys)
  })
  return out
}

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const t0 = performance.now()
let before = new Map<string, number>()
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
    if (what.startsWith('attach ') && what.includes('concurrently')) before = cpuByKind()
    if (what === 'converged') {
      const after = cpuByKind()
      console.log(
        'CPU s while converging: ' +
          [...after].map(([k, v]) => `${k} ${(v - (before.get(k) ?? 0)).toFixed(1)}`).join(', '),
      )
    }
    console.log(
      `${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s  ${what}${fig ? `  ${fig}` : ''}`,
    )
  },
})
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
