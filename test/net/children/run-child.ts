// Run a child script of this folder to completion with a hard deadline: what the children test
// (a recv that could block the thread, a process that must abort) would otherwise hang or take
// the test runner down with it. The child is ended by its own PID at the deadline.
import { join } from 'node:path'

export interface ChildResult {
  exitCode: number | null
  signalCode: string | null
  stdout: string
  stderr: string
  ms: number
  timedOut: boolean
}

export async function runChild(
  script: string,
  args: string[],
  deadlineMs: number,
): Promise<ChildResult> {
  const t0 = performance.now()
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, script), ...args], {
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    process.kill(proc.pid, 'SIGKILL')
  }, deadlineMs)
  const [stdout, stderr] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  clearTimeout(timer)
  const signalCode = proc.signalCode === null ? null : String(proc.signalCode)
  return {
    exitCode: proc.exitCode,
    signalCode,
    stdout,
    stderr,
    ms: performance.now() - t0,
    timedOut,
  }
}
