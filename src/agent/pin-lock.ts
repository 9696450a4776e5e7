// One agent per pin directory on a kernel: the bpf datapath keeps a node's maps and links in
// /sys/fs/bpf/weft/<node>/, and two agents with one node name on one kernel (the demo and the
// tests run several per kernel) would program the same maps against each other. The agent
// holds flock(LOCK_EX) on that directory while it runs; the kernel drops it when the process
// dies, so a crash leaves no stale lock behind.
import { closeSync, openSync } from 'node:fs'
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
  constructor(readonly dir: string, node: string) {
    super(
      `another weft agent on this kernel runs as node ${node} (it holds ${dir}): give this one another --name, or stop that one first`,
      'node_name_in_use',
    )
  }
}

export interface PinDirLock {
  dir: string
  release(): void
}

/** Take the node's pin directory for this process (created if missing); throws PinDirBusyError when held. */
export function lockPinDir(node: string, o: { root?: string; libc?: Libc } = {}): PinDirLock {
  const dir = join(o.root ?? PIN_ROOT, node)
  ensurePinDir(dir)
  const libc = o.libc ?? getLibc()
  const fd = openSync(dir, 'r')
  if (libc.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    const errno = libc.errno()
    closeSync(fd)
    // EWOULDBLOCK is EAGAIN on Linux
    if (errno === Errno.EAGAIN) throw new PinDirBusyError(dir, node)
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
