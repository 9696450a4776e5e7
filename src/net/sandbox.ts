// Sandboxes (container network namespaces) as the plumbing sees them. A sandbox is given as
// an `ip netns` name, a PID, "/proc/PID/ns/net", or any path to a netns file; each becomes the
// path of a netns file the plumbing opens (for setns and IFLA_NET_NS_FD).
import { existsSync } from 'node:fs'
import { NotFoundError, ValidationError } from '../errors/index.ts'

/** Where ip-netns names live. */
export const NETNS_RUN_DIR = '/run/netns'

/** A sandbox resolved to a netns file path. */
export interface Sandbox {
  /** As given by the caller (for messages). */
  spec: string
  /** Path to the netns file. */
  path: string
}

/** Resolve a sandbox spec to a path without touching the file system. */
export function sandboxPath(spec: string): string {
  if (typeof spec !== 'string' || spec.trim() === '') {
    throw new ValidationError(
      'sandbox is empty: give an ip-netns name, /proc/PID/ns/net or a netns file path',
    )
  }
  const s = spec.trim()
  if (/^\d+$/.test(s)) return `/proc/${s}/ns/net`
  if (s.includes('/')) {
    if (!s.startsWith('/')) throw new ValidationError(`sandbox path "${s}" must be absolute`)
    return s
  }
  if (s === '.' || s === '..') throw new ValidationError(`sandbox "${s}" is not a valid netns name`)
  return `${NETNS_RUN_DIR}/${s}`
}

/** Resolve and check that the sandbox exists now; throws NotFoundError with a hint. */
export function resolveSandbox(spec: string): Sandbox {
  const path = sandboxPath(spec)
  if (!existsSync(path)) {
    const hint = path.startsWith('/proc/')
      ? 'is the container running?'
      : path.startsWith(NETNS_RUN_DIR)
        ? `create it with \`ip netns add ${path.slice(NETNS_RUN_DIR.length + 1)}\` or check the name`
        : 'is the container running and the netns file still mounted?'
    throw new NotFoundError(`sandbox ${path} not found: ${hint}`, 'sandbox_not_found')
  }
  return { spec, path }
}
