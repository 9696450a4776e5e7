// Which network namespace a sandbox reference names right now. A netns file (an `ip netns`
// bind mount, /proc/PID/ns/net, or any bind-mounted path) stats as the namespace's nsfs
// inode, so (dev, ino) names the namespace itself: the same path naming another namespace
// later (`ip netns del x; ip netns add x`, a reused PID) has another identity.
import { statSync } from 'node:fs'

export interface NetnsIdentity {
  dev: number
  ino: number
}

/** The identity of the namespace behind `path`, or undefined when the path is gone. */
export function netnsIdentity(path: string): NetnsIdentity | undefined {
  const st = statSync(path, { throwIfNoEntry: false })
  return st ? { dev: st.dev, ino: st.ino } : undefined
}

export const sameNetns = (a: NetnsIdentity, b: NetnsIdentity) => a.dev === b.dev && a.ino === b.ino

/** One string per namespace (`dev:ino`), for maps and comparisons. */
export const netnsKey = (id: NetnsIdentity): string => `${id.dev}:${id.ino}`
