// Every process the benchmark starts goes through here, so a Ctrl-C or a failure can stop
// exactly those processes, by PID, and the run can list every PID it ever started (the
// smoke test checks that none of them is still alive afterwards).
import { readFileSync } from 'node:fs'
import { nsPath } from '../../test/harness/index.ts'

export interface Done {
  code: number
  stdout: string
  stderr: string
  timedOut: boolean
}

export interface Started {
  pid: number
  exited: Promise<number>
  stdout(): string
  stderr(): string
  /** SIGTERM, SIGKILL after `graceMs`; resolves when gone. */
  stop(graceMs?: number): Promise<void>
}

const alive = new Map<number, Bun.Subprocess>()
/** Every PID ever started by this run, with its command (for the leak report). */
export const startedPids: { pid: number; cmd: string }[] = []

function spawnTracked(
  argv: string[],
  env?: Record<string, string>,
): Bun.Subprocess<'ignore', 'pipe', 'pipe'> {
  const p = Bun.spawn(argv, {
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    env: { ...process.env, ...env },
  })
  alive.set(p.pid, p)
  startedPids.push({
    pid: p.pid,
    cmd: argv
      .filter((a) => !a.startsWith('--net='))
      .slice(0, 4)
      .join(' '),
  })
  void p.exited.then(() => alive.delete(p.pid))
  return p
}

function collect(stream: ReadableStream<Uint8Array>): { text(): string; done: Promise<void> } {
  let s = ''
  const decoder = new TextDecoder()
  const done = (async () => {
    for await (const chunk of stream) s += decoder.decode(chunk, { stream: true })
  })()
  return { text: () => s, done }
}

/** Start a process inside namespace `ns` (nsenter --net; nsenter execs, so the PID is the command's). */
export function startIn(ns: string, cmd: string[], env?: Record<string, string>): Started {
  const p = spawnTracked(['nsenter', `--net=${nsPath(ns)}`, ...cmd], env)
  const out = collect(p.stdout)
  const err = collect(p.stderr)
  return {
    pid: p.pid,
    exited: p.exited,
    stdout: out.text,
    stderr: err.text,
    async stop(graceMs = 2000) {
      if (p.exitCode !== null || p.signalCode !== null) return
      p.kill('SIGTERM')
      const t = setTimeout(() => p.kill('SIGKILL'), graceMs)
      await p.exited
      clearTimeout(t)
    },
  }
}

/** Run a command inside `ns` to completion; SIGKILL at the deadline. */
export async function runInNs(
  ns: string,
  cmd: string[],
  opts: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<Done> {
  return finish(
    spawnTracked(['nsenter', `--net=${nsPath(ns)}`, ...cmd], opts.env),
    opts.timeoutMs ?? 60_000,
  )
}

async function finish(
  p: Bun.Subprocess<'ignore', 'pipe', 'pipe'>,
  timeoutMs: number,
): Promise<Done> {
  const out = collect(p.stdout)
  const err = collect(p.stderr)
  let timedOut = false
  const t = setTimeout(() => {
    timedOut = true
    p.kill('SIGKILL')
  }, timeoutMs)
  const code = await p.exited
  clearTimeout(t)
  await Promise.all([out.done, err.done])
  return { code, stdout: out.text(), stderr: err.text(), timedOut }
}

/** Stop every process of this run that is still alive (by PID), SIGKILL after a grace period. */
export async function stopAll(graceMs = 1000): Promise<void> {
  const procs = [...alive.values()]
  for (const p of procs) p.kill('SIGTERM')
  const t = setTimeout(() => procs.forEach((p) => p.kill('SIGKILL')), graceMs)
  await Promise.all(procs.map((p) => p.exited))
  clearTimeout(t)
}

/** PIDs of this run that are still running the command we started (a PID reused by another program is not ours). */
export function leakedPids(
  pids: { pid: number; cmd: string }[] = startedPids,
): { pid: number; cmd: string }[] {
  return pids.filter(({ pid, cmd }) => {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      if (/\) Z /.test(stat)) return false
      const prog = cmd.split(' ').find((w) => w !== 'nsenter') ?? ''
      return cmdline.some((a: string) => a === prog || a.endsWith('/' + prog.split('/').pop()))
    } catch {
      return false
    }
  })
}
