// Run code in another network namespace on the calling thread. Several BPF calls resolve
// names/ifindexes in the caller's netns (bpf_link_create with a target ifindex, the tc netlink
// socket, if_nametoindex), so attaching inside a namespace means switching this thread there.

import { closeSync, openSync } from 'node:fs'
import { BpfError, errnoError } from './errors.ts'
import { getSys, type Sys } from './sys.ts'

const CLONE_NEWNET = 0x40000000

/**
 * Run `fn` with the calling thread inside the network namespace at `nsPath`
 * (e.g. /run/netns/NAME or /proc/PID/ns/net), then switch back, also when `fn` throws.
 * `fn` must be synchronous: anything awaited would run after the thread has switched back
 * (or, worse, other tasks would run inside the namespace).
 */
export function withNetns<T>(nsPath: string, fn: () => T, sys: Sys = getSys()): T {
  // setns(2) changes only this thread; /proc/thread-self names this thread's namespace.
  const home = openSync('/proc/thread-self/ns/net', 'r')
  let target: number
  try {
    target = openSync(nsPath, 'r')
  } catch (cause) {
    closeSync(home)
    throw new BpfError({ op: 'enter netns', subject: nsPath, hint: 'no such namespace file (ip netns add NAME creates /run/netns/NAME)', cause })
  }
  try {
    if (sys.setns(target, CLONE_NEWNET) < 0) {
      throw errnoError(sys, sys.errno(), { op: 'enter netns', subject: nsPath, hint: 'setns failed: run as root (CAP_SYS_ADMIN)' })
    }
    try {
      const result = fn()
      if (result instanceof Promise) {
        throw new TypeError('withNetns: fn returned a Promise; it must be synchronous')
      }
      return result
    } finally {
      if (sys.setns(home, CLONE_NEWNET) < 0) {
        // Continuing in the wrong namespace would act on the wrong interfaces: fail hard.
        throw errnoError(sys, sys.errno(), { op: 'return to original netns', subject: `from ${nsPath}` })
      }
    }
  } finally {
    closeSync(target)
    closeSync(home)
  }
}
