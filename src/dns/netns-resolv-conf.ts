// /etc/netns/<name>/resolv.conf for `ip netns` sandboxes: `ip netns exec NAME cmd`
// bind-mounts it over /etc/resolv.conf, so a plain `ip netns add` sandbox resolves overlay
// names with no setup. weft writes it only when the user has none, marks it as its own, and
// removes only a file that still carries its mark.
import { existsSync, mkdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const ETC_NETNS = '/etc/netns'
const MARK = '# written by weft'

/** The ip-netns name of a sandbox path (/run/netns/NAME), or undefined for a PID or other path. */
export function netnsName(path: string): string | undefined {
  const m = /^\/(?:var\/)?run\/netns\/([^/]+)$/.exec(path)
  return m?.[1]
}

/** Write ours unless a resolv.conf is there already; true when the file there is ours. */
export function ensureNetnsResolvConf(name: string, nameserver: string, etcDir = ETC_NETNS): boolean {
  const dir = join(etcDir, name)
  const file = join(dir, 'resolv.conf')
  if (existsSync(file)) return isOurs(file)
  mkdirSync(dir, { recursive: true })
  const tmp = `${file}.weft-${process.pid}`
  writeFileSync(
    tmp,
    `${MARK} for network namespace ${name}: overlay names resolve at ${nameserver} (served by the weft agent);\n` +
      `# removed on its last disconnect. Write your own file here to keep weft from managing it.\n` +
      `nameserver ${nameserver}\n`,
  )
  renameSync(tmp, file)
  return true
}

/** Remove our resolv.conf (and the directory when that leaves it empty); a user's file stays. */
export function removeNetnsResolvConf(name: string, etcDir = ETC_NETNS): void {
  const dir = join(etcDir, name)
  const file = join(dir, 'resolv.conf')
  if (!existsSync(file) || !isOurs(file)) return
  rmSync(file, { force: true })
  try {
    rmdirSync(dir) // fails, harmlessly, when the user keeps other files there
  } catch {}
}

function isOurs(file: string): boolean {
  try {
    return readFileSync(file, 'utf8').startsWith(MARK)
  } catch {
    return false
  }
}
