// Finding processes by what they hold (a mount namespace, a network namespace, a cgroup, a
// path on their command line) rather than by name, so daemons a test started can be found
// and proven gone without ever matching a process someone else started.
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'

export interface ProcessInfo {
  pid: number
  cmdline: string
}

export interface ProcessMatch {
  /** `/proc/PID/ns/mnt` link text to match, e.g. "mnt:[4026532301]". */
  mountNs?: string
  /** `/proc/PID/ns/net` link text to match. */
  netNs?: string
  /** A substring of the command line (e.g. a private data directory). */
  cmdlineHas?: string
  /** A cgroup path segment (matched as `/SEG/` or a trailing `/SEG`) in /proc/PID/cgroup. */
  cgroup?: string
}

/** The namespace link text of a process, e.g. nsId(123, 'mnt') -> "mnt:[4026532301]". */
export function nsId(pid: number | 'self', kind: 'mnt' | 'net'): string {
  return readlinkSync(`/proc/${pid}/ns/${kind}`)
}

/** The namespace link text of a named (or path) network namespace. */
export function netnsIdOf(nsPathOrName: string): string {
  const path = nsPathOrName.startsWith('/') ? nsPathOrName : `/run/netns/${nsPathOrName}`
  // an nsfs file is not a symlink; its inode is the namespace id (what /proc/PID/ns shows)
  return `net:[${statSync(path).ino}]`
}

/**
 * Live processes matching any of the given criteria. Zombies are left out: they hold nothing
 * but a PID and are reaped by whoever adopted them (here PID 1 reaps orphaned shims).
 */
export function findProcesses(match: ProcessMatch): ProcessInfo[] {
  const found: ProcessInfo[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const pid = Number(name)
    if (pid === process.pid) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()
      const hit =
        (match.cmdlineHas !== undefined && cmdline.includes(match.cmdlineHas)) ||
        (match.mountNs !== undefined && readlinkSync(`/proc/${pid}/ns/mnt`) === match.mountNs) ||
        (match.netNs !== undefined && readlinkSync(`/proc/${pid}/ns/net`) === match.netNs) ||
        (match.cgroup !== undefined &&
          inCgroup(readFileSync(`/proc/${pid}/cgroup`, 'utf8'), match.cgroup))
      if (hit) found.push({ pid, cmdline })
    } catch {
      // the process exited while we looked: it is gone, which is what we are checking for
    }
  }
  return found
}

function inCgroup(cgroupFile: string, segment: string): boolean {
  return cgroupFile.split('\n').some((line) => {
    const path = line.split(':').slice(2).join(':')
    return path.includes(`/${segment}/`) || path.endsWith(`/${segment}`)
  })
}

/** Is this PID alive (and not a zombie)? */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}
