// Running commands inside network namespaces the harness made. Everything goes through
// `nsenter --net=/run/netns/NAME` (not `ip netns exec`, which remounts /sys and hides
// bpffs pins), so the test process itself never changes its own namespace.

import { appendFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

/** Path of a named netns, or the path itself when one is given. */
export function nsPath(ns: string): string {
  return ns.startsWith('/') ? ns : `/run/netns/${ns}`
}

/** Run a command in the root namespace (only for `ip netns add/del`, never to configure it). */
export async function run(cmd: string[], opts: { stdin?: string } = {}): Promise<RunResult> {
  const proc = Bun.spawn(cmd, {
    stdin: opts.stdin === undefined ? 'ignore' : new Blob([opts.stdin]),
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  return { code, stdout, stderr }
}

/** Run a command inside a namespace and collect its output. */
export function runIn(
  ns: string,
  cmd: string[],
  opts: { stdin?: string } = {},
): Promise<RunResult> {
  return run(['nsenter', `--net=${nsPath(ns)}`, ...cmd], opts)
}

/** Like runIn, but throws with the command and its stderr when it fails. */
export async function mustRunIn(ns: string, cmd: string[], opts: { stdin?: string } = {}) {
  const r = await runIn(ns, cmd, opts)
  if (r.code !== 0) {
    throw new Error(
      `in ${ns}: \`${cmd.join(' ')}\` exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`,
    )
  }
  return r
}

export interface NsProcess {
  pid: number
  /** What the process is (e.g. "agent h1"), for its log file and the tails printed on a timeout. */
  label?: string
  /** Resolves with the exit code. */
  exited: Promise<number>
  /** Everything the process wrote to stdout so far. */
  stdout(): string
  stderr(): string
  /** SIGTERM, then SIGKILL after a grace period; resolves when it is gone. */
  stop(graceMs?: number): Promise<void>
}

const live = new Set<NsProcess>()

/** Processes started by spawnIn that are still running (for the leak check). */
export function liveProcesses(): NsProcess[] {
  return [...live]
}

/**
 * Start a long-running process inside a namespace. Stop it by its own PID. With a `label`, its
 * output is also copied as it comes to $WEFT_TEST_AGENT_LOGS/LABEL-PID.log when that names a
 * directory (CI keeps them), and its tail is printed when a waitFor times out (processTails).
 */
export function spawnIn(
  ns: string,
  cmd: string[],
  opts: { env?: Record<string, string>; label?: string } = {},
): NsProcess {
  const proc = Bun.spawn(['nsenter', `--net=${nsPath(ns)}`, ...cmd], {
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    env: { ...process.env, ...opts.env },
  })
  let out = ''
  let err = ''
  const pump = async (stream: ReadableStream<Uint8Array>, sink: (s: string) => void) => {
    const decoder = new TextDecoder()
    for await (const chunk of stream) sink(decoder.decode(chunk, { stream: true }))
  }
  const logFile = opts.label ? logFileFor(opts.label, proc.pid) : undefined
  const copy = (s: string) => {
    if (logFile) appendFileSync(logFile, s)
  }
  void pump(proc.stdout, (s) => {
    out += s
    copy(s)
  })
  void pump(proc.stderr, (s) => {
    err += s
    copy(s)
  })
  const handle: NsProcess = {
    pid: proc.pid,
    label: opts.label,
    exited: proc.exited,
    stdout: () => out,
    stderr: () => err,
    async stop(graceMs = 2000) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM')
        const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
        await proc.exited
        clearTimeout(timer)
      }
      live.delete(handle)
      labelled.delete(handle) // stopped on purpose (teardown): not part of a later file's story
    },
  }
  live.add(handle)
  labelled.add(handle)
  void proc.exited.then((code) => {
    live.delete(handle)
    // a labelled process that ended says so in its tail: "exited 1" is half a diagnosis
    exitedAt.set(handle, { at: Date.now(), code })
  })
  return handle
}

// labelled processes of this test file, running or ended, for processTails
const labelled = new Set<NsProcess>()
const exitedAt = new Map<NsProcess, { at: number; code: number }>()
/** An ended process's tail is shown this long after it ended (a kill the test made, a crash). */
const ENDED_TAIL_MS = 120_000

function logFileFor(label: string, pid: number): string | undefined {
  const dir = process.env.WEFT_TEST_AGENT_LOGS
  if (!dir) return undefined
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `${label.replace(/[^\w.-]+/g, '_')}-${pid}.log`)
  appendFileSync(file, `# ${new Date().toISOString()} started pid ${pid}\n`)
  return file
}

/**
 * The last `bytes` of what each labelled process of this file wrote (stdout and stderr, each
 * with its own tail), newest processes last: what an agent logged when a wait ran out.
 */
export function processTails(bytes = 3000): string {
  const parts: string[] = []
  for (const p of labelled) {
    const ended = exitedAt.get(p)
    if (ended && Date.now() - ended.at > ENDED_TAIL_MS) {
      labelled.delete(p)
      continue
    }
    const state = ended
      ? `exited with code ${ended.code} at ${new Date(ended.at).toISOString()}`
      : 'running'
    parts.push(
      `--- ${p.label} (pid ${p.pid}, ${state}) stdout, last ${bytes} bytes:\n${p.stdout().slice(-bytes)}` +
        `\n--- ${p.label} (pid ${p.pid}) stderr, last ${bytes} bytes:\n${p.stderr().slice(-bytes)}`,
    )
  }
  return parts.join('\n')
}
