// One agent per pin directory on a kernel: the bpf datapath keeps a node's maps and links in
// /sys/fs/bpf/weft/<node>/, and two agents with one node name on one kernel (the demo and the
// tests run several per kernel) would program the same maps against each other. The agent
// holds flock(LOCK_EX) on that directory while it runs; the kernel drops it when the process
// dies, so a crash leaves no stale lock behind.
import { closeSync, existsSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { ensurePinDir } from '../bpf/index.ts'
import { PIN_ROOT } from '../datapath/index.ts'
import { ConflictError } from '../errors/index.ts'
import { Errno, getLibc, type Libc } from '../sys/index.ts'

const LOCK_EX = 2
const LOCK_NB = 4

/** Another agent on this kernel runs with this node name. */
export class PinDirBusyError extends ConflictError {
  override name = 'PinDirBusyError'
  constructor(
    readonly dir: string,
    node: string,
    what = 'give this one another --name, or stop that one first',
  ) {
    super(`another weft agent on this kernel runs as node ${node} (it holds ${dir}): ${what}`, 'node_name_in_use')
  }
}

interface LockOptions {
  root?: string
  libc?: Libc
  /** What the refusal tells the operator to do. */
  busyHint?: string
}

export interface PinDirLock {
  dir: string
  release(): void
}

/**
 * Take the node's pin directory for this process; throws PinDirBusyError when another holds it.
 * It is created if missing, unless `create` is false: then a missing one gives undefined.
 */
export function lockPinDir(node: string, o: LockOptions & { create: false }): PinDirLock | undefined
export function lockPinDir(node: string, o?: LockOptions & { create?: true }): PinDirLock
export function lockPinDir(node: string, o: LockOptions & { create?: boolean } = {}): PinDirLock | undefined {
  const dir = join(o.root ?? PIN_ROOT, node)
  if (o.create === false) {
    if (!existsSync(dir)) return undefined
  } else ensurePinDir(dir)
  const libc = o.libc ?? getLibc()
  const fd = openSync(dir, 'r')
  if (libc.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    const errno = libc.errno()
    closeSync(fd)
    // EWOULDBLOCK is EAGAIN on Linux
    if (errno === Errno.EAGAIN) throw new PinDirBusyError(dir, node, o.busyHint)
    throw new Error(`cannot lock ${dir} (flock: ${libc.strerror(errno)}); is it on bpffs?`)
  }
  let held = true
  return {
    dir,
    release() {
      if (held) closeSync(fd) // closing the only fd drops the lock
      held = false
    },
  }
}
