// Which file this agent can open the netns of a joined container by, for names (src/dns).
// Join's SandboxKey is Docker's bind mount of that netns; it is the netns only where dockerd's
// mounts are seen. An agent in another mount namespace (dockerd in its own, as the test hosts
// run it) sees an empty file there instead: then the container's init process names the
// netns (/proc/PID/ns/net, as long as the container runs).
import { statSync } from 'node:fs'

/** Every netns file is on the one nsfs device: a file on another device is not a netns. */
function isNetns(path: string): boolean {
  const st = statSync(path, { throwIfNoEntry: false })
  return !!st && st.dev === statSync('/proc/self/ns/net').dev
}

/** The container's netns as a path this agent can open, or undefined while neither is known. */
export function containerNetns(
  sandboxKey: string | undefined,
  pid: number | undefined,
): string | undefined {
  if (sandboxKey && isNetns(sandboxKey)) return sandboxKey
  if (pid && pid > 0 && isNetns(`/proc/${pid}/ns/net`)) return `/proc/${pid}/ns/net`
  return undefined
}
