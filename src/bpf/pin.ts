// Pins on bpffs: make sure /sys/fs/bpf is a bpffs mount, create pin directories, pin and
// unpin objects, remove a whole pin directory. Every path must lie on a bpffs mount.

import { spawnSync } from 'bun'
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs'
import { resolve } from 'node:path'
import { BpfError, Errno, errnoError } from './errors.ts'
import { getSys, type Sys } from '../sys/index.ts'

/** Where bpffs lives by convention. */
export const BPFFS_ROOT = '/sys/fs/bpf'

interface Mount {
  point: string
  fstype: string
}

function mounts(): Mount[] {
  // mountinfo: "id parent maj:min root mountpoint opts [optional...] - fstype source superopts"
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(' ')
      const sep = fields.indexOf('-')
      const unescape = (s: string) =>
        s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
      return { point: unescape(fields[4] ?? ''), fstype: fields[sep + 1] ?? '' }
    })
}

/** The filesystem type of the mount that holds `path` (the longest matching mount point; last mount wins). */
function fstypeOf(path: string): string | undefined {
  const abs = resolve(path)
  let best: Mount | undefined
  for (const m of mounts()) {
    const inside = abs === m.point || abs.startsWith(m.point === '/' ? '/' : m.point + '/')
    if (inside && (!best || m.point.length >= best.point.length)) best = m
  }
  return best?.fstype
}

/** True when `path` lies on a bpffs mount. */
export function isOnBpffs(path: string): boolean {
  return fstypeOf(path) === 'bpf'
}

/**
 * Make sure /sys/fs/bpf is a bpffs mount; mounts it only when it is not.
 * @returns `mounted: true` when this call mounted it (callers should log that).
 */
export function ensureBpffs(): { mounted: boolean } {
  if (isOnBpffs(BPFFS_ROOT)) return { mounted: false }
  const r = spawnSync(['mount', '-t', 'bpf', 'bpf', BPFFS_ROOT], { stderr: 'pipe' })
  if (r.exitCode !== 0 || !isOnBpffs(BPFFS_ROOT)) {
    throw new BpfError({
      op: 'mount bpffs',
      subject: BPFFS_ROOT,
      hint: `mount failed (${r.stderr.toString().trim() || `exit ${r.exitCode}`}); run as root or mount it yourself: mount -t bpf bpf ${BPFFS_ROOT}`,
    })
  }
  return { mounted: true }
}

/**
 * mkdir -p a pin directory on bpffs. Mounts bpffs at /sys/fs/bpf first if the directory is
 * below it and nothing is mounted there.
 */
export function ensurePinDir(dir: string): { mountedBpffs: boolean } {
  const abs = resolve(dir)
  let mountedBpffs = false
  if (abs === BPFFS_ROOT || abs.startsWith(BPFFS_ROOT + '/')) mountedBpffs = ensureBpffs().mounted
  if (!isOnBpffs(abs)) {
    throw new BpfError({
      op: 'create pin dir',
      subject: abs,
      hint: 'the path is not on a bpffs mount (pins must live under /sys/fs/bpf)',
    })
  }
  try {
    mkdirSync(abs, { recursive: true })
  } catch (cause) {
    throw new BpfError({
      op: 'create pin dir',
      subject: abs,
      hint: String((cause as Error).message),
      cause,
    })
  }
  return { mountedBpffs }
}

/** Pin any BPF fd (map, program, link) at `path`. The parent directory must exist on bpffs. */
export function pinFd(fd: number, path: string, what: string, sys: Sys = getSys()): void {
  const rc = sys.objPin(fd, path)
  if (rc < 0) {
    const hint =
      -rc === Errno.EEXIST
        ? `something is already pinned at ${path}; unpin it first`
        : -rc === Errno.ENOENT
          ? `the directory of ${path} does not exist (ensurePinDir) or bpffs is not mounted at /sys/fs/bpf`
          : undefined
    throw errnoError(sys, rc, { op: `pin ${what}`, subject: `at ${path}`, hint })
  }
}

/** Remove one pin. The object lives on while other fds or pins hold it. Missing -> false. */
export function unpin(path: string): boolean {
  try {
    unlinkSync(path)
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw new BpfError({ op: 'unpin', subject: path, hint: (e as Error).message, cause: e })
  }
}

/** True when something is pinned (or a directory exists) at `path`. */
export function pinExists(path: string): boolean {
  return existsSync(path)
}

/** Remove a pin directory and everything in it (rm -rf). Refuses paths not on bpffs. Missing -> false. */
export function removePinDir(dir: string): boolean {
  const abs = resolve(dir)
  if (!existsSync(abs)) return false
  if (!isOnBpffs(abs) || abs === BPFFS_ROOT || !statSync(abs).isDirectory()) {
    throw new BpfError({
      op: 'remove pin dir',
      subject: abs,
      hint: 'refusing: not a directory below a bpffs mount',
    })
  }
  rmSync(abs, { recursive: true })
  return true
}
