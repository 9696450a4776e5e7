// Commands the demo runs: `ip netns add/del` in the root namespace (nothing else ever
// runs there), everything else inside a namespace through `nsenter --net=`.

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

export const nsPath = (ns: string) => `/run/netns/${ns}`

export async function run(cmd: string[]): Promise<RunResult> {
  let proc
  try {
    proc = Bun.spawn(cmd, { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  } catch (e) {
    return { code: 127, stdout: '', stderr: `${cmd[0]}: ${(e as Error).message}` }
  }
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  return { code, stdout, stderr }
}

export const runIn = (ns: string, cmd: string[]) => run(['nsenter', `--net=${nsPath(ns)}`, ...cmd])

export async function mustRunIn(ns: string, cmd: string[]): Promise<RunResult> {
  const r = await runIn(ns, cmd)
  if (r.code !== 0)
    throw new Error(
      `in namespace ${ns}: \`${cmd.join(' ')}\` failed: ${(r.stderr || r.stdout).trim()}`,
    )
  return r
}

/** The command that runs this same weft binary (or `bun src/main.ts` when run from source). */
export function selfCommand(): string[] {
  const compiled = Bun.main.startsWith('/$bunfs/') || Bun.main.startsWith('B:/~BUN/')
  return compiled ? [process.execPath] : [process.execPath, Bun.main]
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Poll `cond` until it holds or the deadline passes. */
export async function waitFor(
  cond: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs: number,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await cond()) return
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await Bun.sleep(intervalMs)
  }
}
