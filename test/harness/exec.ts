// Running commands inside network namespaces the harness made. Everything goes through
// `nsenter --net=/run/netns/NAME` (not `ip netns exec`, which remounts /sys and hides
// bpffs pins), so the test process itself never changes its own namespace.

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

/** Start a long-running process inside a namespace. Stop it by its own PID. */
export function spawnIn(
  ns: string,
  cmd: string[],
  opts: { env?: Record<string, string> } = {},
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
  void pump(proc.stdout, (s) => (out += s))
  void pump(proc.stderr, (s) => (err += s))
  const handle: NsProcess = {
    pid: proc.pid,
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
    },
  }
  live.add(handle)
  void proc.exited.then(() => live.delete(handle))
  return handle
}
