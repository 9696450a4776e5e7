// Run code in another network namespace on the calling thread. Sockets (rtnetlink), interface
// names and several BPF calls resolve in the caller's netns, so acting inside a sandbox means
// switching this thread there and back.

import { closeSync, openSync, writeSync } from 'node:fs'
import { WeftError } from '../errors/index.ts'
import { errnoName } from './errno.ts'
import { getLibc, type Libc } from './libc.ts'

const CLONE_NEWNET = 0x40000000

/** Entering a namespace failed; the thread is still in its own. */
export class NetnsError extends WeftError {
  override name = 'NetnsError'
  constructor(message: string, options?: { cause?: unknown }) {
    super('netns_failed', message, options)
  }
}

/**
 * Stop the process now. Used when this thread cannot get back to its own namespace: carrying
 * on would apply the agent's next change (a route, a veth, a BPF attach) inside a container.
 */
function abortProcess(message: string): never {
  writeSync(2, `weft: fatal: ${message}\n`)
  process.abort()
}

/**
 * Run `fn` with the calling thread inside the network namespace at `nsPath`
 * (e.g. /run/netns/NAME or /proc/PID/ns/net), then switch back, also when `fn` throws.
 * If switching back fails the process aborts. `fn` must be synchronous: anything awaited
 * would run after the thread has switched back (or, worse, other tasks would run inside).
 */
export function withNetns<T>(nsPath: string, fn: () => T, libc: Libc = getLibc()): T {
  // setns(2) changes only this thread; /proc/thread-self names this thread's namespace. Only
  // withNetns moves a thread and it always moves back, so outside any call the thread is home:
  // that fd is opened once and kept (a nested call opens the namespace it is in). 2026-12,
  // issue 17: the open and close were 2 of ~10 syscalls per sandbox socket, several per endpoint.
  const nested = depth > 0
  const home = nested ? openSync('/proc/thread-self/ns/net', 'r') : homeNetns()
  let target: number
  try {
    target = openSync(nsPath, 'r')
  } catch (cause) {
    if (nested) closeSync(home)
    throw new NetnsError(
      `enter netns ${nsPath}: no such namespace file (ip netns add NAME creates /run/netns/NAME)`,
      { cause },
    )
  }
  try {
    if (libc.setns(target, CLONE_NEWNET) < 0) {
      const e = libc.errno()
      throw new NetnsError(
        `enter netns ${nsPath}: ${errnoName(e)} (${libc.strerror(e)}): setns needs root (CAP_SYS_ADMIN)`,
      )
    }
    depth++
    try {
      const result = fn()
      if (result instanceof Promise) {
        throw new TypeError('withNetns: fn returned a Promise; it must be synchronous')
      }
      return result
    } finally {
      depth--
      if (libc.setns(home, CLONE_NEWNET) < 0) {
        const e = libc.errno()
        abortProcess(
          `cannot return to this process's own network namespace after entering ${nsPath}: ` +
            `setns ${errnoName(e)} (${libc.strerror(e)}); aborting instead of carrying on inside another namespace`,
        )
      }
    }
  } finally {
    closeSync(target)
    if (nested) closeSync(home)
  }
}

/** withNetns calls in progress on this thread (module state is per thread: Workers have their own). */
let depth = 0
let homeFd: number | undefined

/**
 * This thread's own network namespace, opened at first use and kept for the thread's life: one
 * fd per thread that ever entered a namespace (a Worker that ends leaves its fd open until the
 * process does; weft's Workers live as long as the agent).
 */
function homeNetns(): number {
  return (homeFd ??= openSync('/proc/thread-self/ns/net', 'r'))
}
