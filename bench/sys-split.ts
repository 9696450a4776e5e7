// Where the agents' kernel (sys) time goes while 3 agents converge (issue 17): the bench's
// convergence step (bench/lib/control-plane.ts, as test/perf/converge.perf.ts runs it), with
// one of these over exactly the converge window (first connect sent -> every host holds every
// endpoint):
//   --perf   perf record -a -g --kernel-callchains -e cpu-clock (this VM has no HW counters);
//            each agent's kernel samples split by the syscall and the rtnetlink / bpf() request
//            they serve (bench/lib/kernel-split.ts), plus its threads' user/kernel time
//   --trace  perf trace -s on the three agents: syscalls per agent and per endpoint (slows them:
//            do not quote the converge time of a --trace run)
//   --strace N  strace -f agent N (1-3) into --keep DIR: the calls in order (slows it a lot)
//   neither  the agents' own CPU from /proc only (for A/B runs)
// Usage: bun run bench/sys-split.ts [endpoints=1000] [networks=100] [--perf|--trace]
//        [--period-us 1000] [--json FILE] [--keep DIR]
// Runs as root (namespaces, perf); hold /tmp/weft-bench.lock for figures you quote.
import { readdirSync, readFileSync, rmSync, mkdtempSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { parseArgs } from 'node:util'
import { runControlPlane } from './lib/control-plane.ts'
import { parsePerfScript, splitSamples, type KernelSplit } from './lib/kernel-split.ts'
import { parseTraceSummary, type SyscallCounts } from './lib/trace-summary.ts'

const { values: args, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  strict: true,
  options: {
    perf: { type: 'boolean', default: false },
    trace: { type: 'boolean', default: false },
    /** strace -f one agent (1-3) over the window, into the kept directory: the calls in order */
    strace: { type: 'string' },
    'period-us': { type: 'string', default: '1000' },
    json: { type: 'string' },
    /** keep perf.data / the trace here for a closer look */
    keep: { type: 'string' },
    datapath: { type: 'string', default: 'bpf' },
  },
})
const endpoints = Number(positionals[0] ?? 1000)
const networks = Number(positionals[1] ?? 100)
const periodNs = Number(args['period-us']) * 1000
if (!Number.isInteger(endpoints) || endpoints < 3 || !Number.isInteger(networks) || networks < 1)
  throw new Error('usage: sys-split.ts [endpoints >= 3] [networks >= 1] [--perf|--trace]')
if ([args.perf, args.trace, args.strace !== undefined].filter(Boolean).length > 1)
  throw new Error('--perf, --trace and --strace measure different runs: pick one')
const straceAgent = args.strace === undefined ? undefined : Number(args.strace)
if (
  straceAgent !== undefined &&
  (!Number.isInteger(straceAgent) || straceAgent < 1 || straceAgent > 3)
)
  throw new Error('--strace takes the agent to follow: 1, 2 or 3')
if (straceAgent !== undefined && !args.keep)
  throw new Error('--strace writes into --keep DIR: give one')
if (!Number.isInteger(periodNs) || periodNs < 100_000)
  throw new Error('--period-us must be an integer >= 100')
if (args.datapath !== 'bpf' && args.datapath !== 'kernel')
  throw new Error('--datapath is bpf or kernel')
if (process.getuid?.() !== 0)
  throw new Error('bench/sys-split.ts builds namespaces and runs perf: run it as root')

interface Cpu {
  user: number
  sys: number
}
const TICK = 100 // USER_HZ

function cpuOf(pid: number): Cpu {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { user: Number(f[11]) / TICK, sys: Number(f[12]) / TICK }
}

/** This run's agents (children of this process) with their node names, by pid. */
function agents(): { pid: number; node: string }[] {
  const out: { pid: number; node: string }[] = []
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== process.pid) continue
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')
      const name = argv[argv.indexOf('--name') + 1]
      if (argv.includes('agent') && name) out.push({ pid: Number(p), node: name })
    } catch {
      // ended meanwhile
    }
  }
  return out.sort((a, b) => a.pid - b.pid)
}

const tasksOf = (pid: number) => readdirSync(`/proc/${pid}/task`).map(Number)

const work = mkdtempSync(join(tmpdir(), 'weft-sys-split-'))
const perfFile = join(work, 'perf.data')
const traceFile = join(work, 'trace.txt')
let tool: Bun.Subprocess<'ignore', 'pipe', 'pipe'> | undefined
let toolExit: Promise<number> | undefined
let who: { pid: number; node: string }[] = []
const tids = new Map<number, number>() // tid -> pid
let before = new Map<number, Cpu>()
let after = new Map<number, Cpu>()
let windowS = 0
let t0 = 0
const started = performance.now()

function startTool(): void {
  if (args.perf) {
    tool = Bun.spawn(
      [
        'perf',
        'record',
        '-a',
        '-g',
        '--kernel-callchains',
        '-e',
        'cpu-clock',
        '-c',
        String(periodNs),
        '-o',
        perfFile,
        '-q',
      ],
      { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' },
    )
  } else if (args.trace) {
    tool = Bun.spawn(
      ['perf', 'trace', '-s', '-p', who.map((a) => a.pid).join(','), '-o', traceFile],
      { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' },
    )
  } else if (straceAgent !== undefined) {
    tool = Bun.spawn(
      [
        'strace',
        '-f',
        '-tt',
        '-o',
        join(work, 'strace.txt'),
        '-p',
        String(who[straceAgent - 1]!.pid),
      ],
      { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' },
    )
  }
  toolExit = tool?.exited
}

try {
  const r = await runControlPlane({
    datapath: args.datapath,
    attaches: 3,
    endpoints,
    networks,
    kvSeconds: 1,
    kv: false,
    etcd: false,
    idleSeconds: 1,
    convergeTimeoutMs: 180_000,
    progress: (what, fig) => {
      if (what.startsWith('attach ') && what.includes('concurrently')) {
        who = agents()
        if (who.length !== 3) throw new Error(`expected 3 agents of this run, found ${who.length}`)
        startTool()
        before = new Map(who.map((a) => [a.pid, cpuOf(a.pid)]))
        t0 = performance.now()
      }
      if (what === 'converged') {
        windowS = (performance.now() - t0) / 1000
        tool?.kill('SIGINT')
        after = new Map(who.map((a) => [a.pid, cpuOf(a.pid)]))
        for (const a of who) for (const t of tasksOf(a.pid)) tids.set(t, a.pid)
      }
      console.log(
        `${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s  ${what}${fig ? `  ${fig}` : ''}`,
      )
    },
  })
  if (toolExit) {
    const code = await toolExit
    if (code !== 0 && code !== 130 && code !== 2)
      throw new Error(`perf exited ${code}: ${await new Response(tool!.stderr).text()}`)
  }
  const load = readFileSync('/proc/loadavg', 'utf8').trim()
  const cpu = who.map((a) => {
    const b = before.get(a.pid)!
    const e = after.get(a.pid)!
    return { node: a.node, pid: a.pid, user: e.user - b.user, sys: e.sys - b.sys }
  })
  const report: Record<string, unknown> = {
    endpoints,
    networks,
    datapath: args.datapath,
    converge: r.converge.seconds,
    window: windowS,
    load,
    cpu,
  }
  console.log(
    `converge ${r.converge.seconds?.toFixed(2)} s (window ${windowS.toFixed(2)} s), load ${load}`,
  )
  for (const c of cpu)
    console.log(
      `  ${c.node} (pid ${c.pid}): ${c.user.toFixed(2)} user + ${c.sys.toFixed(2)} sys CPU-s`,
    )
  const total = cpu.reduce((s, c) => s + c.user + c.sys, 0)
  console.log(
    `  agents: ${total.toFixed(2)} CPU-s, sys ${cpu.reduce((s, c) => s + c.sys, 0).toFixed(2)}`,
  )
  if (args.perf) report.perf = await perfSplit()
  if (args.trace) report.trace = traceSplit()
  if (args.json) writeFileSync(args.json, JSON.stringify(report, null, 2) + '\n')
} finally {
  if (tool && tool.exitCode === null && tool.signalCode === null) {
    tool.kill('SIGINT')
    await tool.exited
  }
  if (args.keep) Bun.spawnSync(['cp', '-r', work, args.keep])
  rmSync(work, { recursive: true, force: true })
}

async function perfSplit(): Promise<Record<string, unknown>> {
  const p = Bun.spawn(
    [
      'perf',
      'script',
      '-i',
      perfFile,
      '--pid',
      who.map((a) => a.pid).join(','),
      '-F',
      'comm,pid,tid,period,event,ip,sym,dso',
    ],
    { stdout: 'pipe', stderr: 'pipe' },
  )
  const [text, err, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ])
  if (code !== 0) throw new Error(`perf script exited ${code}: ${err.trim()}`)
  const split = splitSamples(parsePerfScript(text), new Set(who.map((a) => a.pid)))
  return printSplit(split)
}

function printSplit(split: KernelSplit): Record<string, unknown> {
  const s = (ns: number) => (ns / 1e9).toFixed(3)
  const out: Record<string, unknown> = {}
  // the three agents together, then each
  const all = new Map<string, number>()
  for (const m of split.byPid.values()) for (const [k, v] of m) all.set(k, (all.get(k) ?? 0) + v)
  const kernelTotal = [...all].filter(([k]) => k !== 'user').reduce((a, [, v]) => a + v, 0)
  console.log(
    `\nkernel samples of the three agents by entry (CPU-s; kernel total ${s(kernelTotal)}):`,
  )
  const rows = [...all].filter(([k]) => k !== 'user').sort((a, b) => b[1] - a[1])
  for (const [k, v] of rows.slice(0, 45))
    console.log(
      `  ${s(v).padStart(8)}  ${((100 * v) / kernelTotal).toFixed(1).padStart(5)} %  ${k}`,
    )
  out.all = Object.fromEntries(rows.map(([k, v]) => [k, v / 1e9]))
  out.user = (all.get('user') ?? 0) / 1e9
  for (const a of who) {
    const m = split.byPid.get(a.pid) ?? new Map()
    const th = split.threads.get(a.pid) ?? new Map()
    const leaves = [...(split.leaves.get(a.pid) ?? new Map())].sort((x, y) => y[1] - x[1])
    console.log(
      `\n${a.node}: threads (user / kernel CPU-s): ${[...th]
        .sort((x, y) => y[1].user + y[1].kernel - x[1].user - x[1].kernel)
        .map(([n, t]) => `${n} ${s(t.user)}/${s(t.kernel)}`)
        .join(', ')}`,
    )
    console.log(
      `  top leaves: ${leaves
        .slice(0, 12)
        .map(([n, v]) => `${n} ${s(v)}`)
        .join(', ')}`,
    )
    out[a.node] = {
      byEntry: Object.fromEntries([...m].sort((x, y) => y[1] - x[1]).map(([k, v]) => [k, v / 1e9])),
      threads: Object.fromEntries(
        [...th].map(([n, t]) => [n, { user: t.user / 1e9, kernel: t.kernel / 1e9 }]),
      ),
      leaves: Object.fromEntries(leaves.slice(0, 40).map(([k, v]) => [k, v / 1e9])),
    }
  }
  return out
}

function traceSplit(): Record<string, unknown> {
  const perThread = parseTraceSummary(readFileSync(traceFile, 'utf8'))
  const byPid = new Map<number, SyscallCounts>()
  for (const t of perThread) {
    const pid = tids.get(t.tid)
    if (pid === undefined) continue
    let m = byPid.get(pid)
    if (!m) byPid.set(pid, (m = new Map()))
    for (const [name, c] of t.calls) {
      const e = m.get(name) ?? { calls: 0, errors: 0, msec: 0 }
      e.calls += c.calls
      e.errors += c.errors
      e.msec += c.msec
      m.set(name, e)
    }
  }
  const out: Record<string, unknown> = {}
  // each host has endpoints/3 local endpoints; per endpoint = per local endpoint of that agent
  const local = endpoints / 3
  for (const a of who) {
    const m = byPid.get(a.pid) ?? new Map()
    const rows = [...m].sort((x, y) => y[1].calls - x[1].calls)
    const total = rows.reduce((n, [, c]) => n + c.calls, 0)
    console.log(`\n${a.node}: ${total} syscalls (${(total / local).toFixed(1)} per local endpoint)`)
    for (const [name, c] of rows.slice(0, 25))
      console.log(
        `  ${name.padEnd(18)} ${String(c.calls).padStart(8)}  ${(c.calls / local).toFixed(2).padStart(7)}/ep  ${c.errors ? `${c.errors} err  ` : ''}${c.msec.toFixed(0)} ms`,
      )
    out[a.node] = Object.fromEntries(rows.map(([k, c]) => [k, c]))
  }
  return out
}
