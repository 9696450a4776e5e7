// Files that hold secrets (the join token, the CA's key): created 0600 without a window in
// which another process sees a partial file, and refused when another user could read or
// replace them.
import { linkSync, lstatSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

/** The file's content, or undefined when it does not exist. Throws if its owner or mode is unsafe. */
export function readSecretFile(path: string): string | undefined {
  let st
  try {
    st = lstatSync(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
  if (!st.isFile())
    throw new Error(`${path} is not a regular file (a symlink or device?); remove it and restart`)
  const uid = process.geteuid?.()
  if (uid !== undefined && st.uid !== uid)
    throw new Error(
      `${path} belongs to uid ${st.uid}, not to this process (uid ${uid}); it may have been planted: remove it and restart`,
    )
  if (st.mode & 0o077) {
    throw new Error(
      `${path} is readable or writable by other users (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); run chmod 600 ${path}`,
    )
  }
  return readFileSync(path, 'utf8')
}

/**
 * Create `path` with `content` (mode 0600) unless it exists. Returns what is in the file
 * afterwards: ours, or the one a concurrent starter created first.
 */
export function createSecretFile(path: string, content: string): string {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  const tmp = `${path}.${process.pid}.tmp`
  try {
    unlinkSync(tmp)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
  writeFileSync(tmp, content, { mode: 0o600, flag: 'wx' })
  try {
    // link, not rename: it fails if the file appeared meanwhile instead of replacing it
    linkSync(tmp, path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
  } finally {
    unlinkSync(tmp)
  }
  const now = readSecretFile(path)
  if (now === undefined)
    throw new Error(
      `${path} vanished right after it was created; is another process cleaning ${dirname(path)}?`,
    )
  return now
}
