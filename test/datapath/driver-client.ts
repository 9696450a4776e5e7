// Client for ./driver.ts: starts a datapath process inside a host namespace and calls
// its methods over JSON lines. The test process itself stays in the root namespace.
import { join } from 'node:path'
import { lines } from '../../src/util/lines.ts'

/** A running driver. */
export interface DriverHandle {
  /** Call a Datapath method (or "net.*"); `params` are the positional arguments (a non-array is one argument). */
  call<T = unknown>(method: string, params?: unknown): Promise<T>
  readonly pid: number
  /** Send a signal to the driver (by its PID). */
  kill(signal?: NodeJS.Signals | number): void
  /** Close stdin (the driver closes its datapath and exits); SIGKILL after `graceMs`. Resolves when gone. */
  stop(graceMs?: number): Promise<void>
  /** Resolves with the exit code. */
  readonly exited: Promise<number>
  /** Everything the driver wrote to stderr so far. */
  stderr(): string
}

/** Error returned by the driver: carries the remote error's code and class name. */
export class DriverCallError extends Error {
  constructor(
    readonly method: string,
    readonly code: string,
    readonly remoteName: string,
    message: string,
  ) {
    super(message)
    this.name = remoteName
  }
}

const DRIVER = join(import.meta.dir, 'driver.ts')

/**
 * Start `driver.ts` in `/run/netns/<hostNs>` (or a netns path) for datapath `kind`.
 * `kind: 'none'` gives only the net.* plumbing methods.
 */
export function startDriver(
  hostNs: string,
  kind: 'bpf' | 'kernel' | 'none',
  node = hostNs,
  advertise = '',
): DriverHandle {
  const path = hostNs.startsWith('/') ? hostNs : `/run/netns/${hostNs}`
  const argv = [
    'nsenter',
    `--net=${path}`,
    process.execPath,
    'run',
    DRIVER,
    '--kind',
    kind,
    '--node',
    node,
  ]
  if (advertise) argv.push('--advertise', advertise)
  const proc = Bun.spawn(argv, { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' })
  const waiting = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: unknown) => void; method: string }
  >()
  let nextId = 1
  let err = ''
  let closed = false

  const failAll = (why: string) => {
    for (const [id, w] of waiting) {
      w.reject(
        new DriverCallError(
          w.method,
          'driver_exited',
          'Error',
          `${why}${err ? `: ${err.trim().slice(-2000)}` : ''}`,
        ),
      )
      waiting.delete(id)
    }
  }

  void (async () => {
    const decoder = new TextDecoder()
    for await (const chunk of proc.stderr) err += decoder.decode(chunk, { stream: true })
  })()
  void (async () => {
    for await (const line of lines(proc.stdout)) {
      if (!line.trim()) continue
      const msg = JSON.parse(line) as {
        id: number
        result?: unknown
        error?: { code: string; name: string; message: string }
      }
      const w = waiting.get(msg.id)
      if (!w) continue
      waiting.delete(msg.id)
      if (msg.error)
        w.reject(new DriverCallError(w.method, msg.error.code, msg.error.name, msg.error.message))
      else w.resolve(msg.result)
    }
    await proc.exited
    failAll(`driver in ${hostNs} exited with ${proc.exitCode}`)
  })()

  const exited = proc.exited
  return {
    pid: proc.pid,
    exited,
    stderr: () => err,
    call<T>(method: string, params?: unknown): Promise<T> {
      if (closed || proc.exitCode !== null) {
        return Promise.reject(
          new DriverCallError(
            method,
            'driver_exited',
            'Error',
            `driver in ${hostNs} is not running`,
          ),
        )
      }
      const id = nextId++
      const args = params === undefined ? [] : Array.isArray(params) ? params : [params]
      return new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, method })
        proc.stdin.write(JSON.stringify({ id, method, params: args }) + '\n')
        proc.stdin.flush()
      })
    },
    kill(signal: NodeJS.Signals | number = 'SIGTERM') {
      if (proc.exitCode === null) process.kill(proc.pid, signal)
    },
    async stop(graceMs = 5000) {
      if (!closed) {
        closed = true
        try {
          proc.stdin.end()
        } catch {
          // already closed
        }
      }
      const timer = setTimeout(() => {
        if (proc.exitCode === null) process.kill(proc.pid, 'SIGKILL')
      }, graceMs)
      await proc.exited
      clearTimeout(timer)
    },
  }
}
