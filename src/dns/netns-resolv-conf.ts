// /etc/netns/<name>/resolv.conf for `ip netns` sandboxes: `ip netns exec NAME cmd`
// bind-mounts it over /etc/resolv.conf, so a plain `ip netns add` sandbox resolves overlay
// names with no setup. weft writes it only when the user has none, marks it as its own (and
// names the node whose agent wrote it, for `weft agent --teardown`: hosts of one machine share
// /etc/netns), and removes only a file that still carries its mark.
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { NETNS_RUN_DIR } from '../net/index.ts'

export const ETC_NETNS = '/etc/netns'
const MARK = '# written by weft'
const nodeLine = (node: string) => `# weft node: ${node}`

/** The ip-netns name of a sandbox path (/run/netns/NAME), or undefined for a PID or other path. */
export function netnsName(path: string): string | undefined {
  const m = /^\/(?:var\/)?run\/netns\/([^/]+)$/.exec(path)
  return m?.[1]
}

/** Write ours unless a resolv.conf is there already; true when the file there is ours. */
export function ensureNetnsResolvConf(
  name: string,
  nameserver: string,
  etcDir = ETC_NETNS,
  node?: string,
): boolean {
  const dir = join(etcDir, name)
  const file = join(dir, 'resolv.conf')
  if (existsSync(file)) return isOurs(file)
  mkdirSync(dir, { recursive: true })
  const tmp = `${file}.weft-${process.pid}`
  writeFileSync(
    tmp,
    `${MARK} for network namespace ${name}: overlay names resolve at ${nameserver} (served by the weft agent);\n` +
      `# removed on its last disconnect. Write your own file here to keep weft from managing it.\n` +
      (node ? `${nodeLine(node)}\n` : '') +
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

/**
 * Remove weft's resolv.conf of every ip-netns name whose namespace is gone (deleted while no
 * agent served it, or before its agent released it): a namespace made again under that name
 * must not inherit a resolver nobody answers at. Returns the names cleaned.
 */
export function removeOrphanedResolvConfs(etcDir = ETC_NETNS, runDir = NETNS_RUN_DIR): string[] {
  let names: string[]
  try {
    names = readdirSync(etcDir)
  } catch {
    return []
  }
  const cleaned: string[] = []
  for (const name of names) {
    if (existsSync(join(runDir, name)) || !isOurs(join(etcDir, name, 'resolv.conf'))) continue
    removeNetnsResolvConf(name, etcDir)
    cleaned.push(name)
  }
  return cleaned
}

/**
 * Remove weft's resolv.conf of every namespace `node`'s agent wrote one for (`weft agent
 * --teardown`: its sandboxes lose their endpoints, and no resolver answers there any more).
 * Files of other nodes, of older agents (no node named) and the user's stay. Returns the files.
 */
export function removeNodeResolvConfs(node: string, etcDir = ETC_NETNS): string[] {
  let names: string[]
  try {
    names = readdirSync(etcDir)
  } catch {
    return []
  }
  const removed: string[] = []
  for (const name of names) {
    const file = join(etcDir, name, 'resolv.conf')
    if (!isOurs(file) || !readText(file).split('\n').includes(nodeLine(node))) continue
    removeNetnsResolvConf(name, etcDir)
    removed.push(file)
  }
  return removed
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}

function isOurs(file: string): boolean {
  try {
    return readFileSync(file, 'utf8').startsWith(MARK)
  } catch {
    return false
  }
}
