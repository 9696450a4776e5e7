// Recognises "the disk is full" in any of its spellings: libSQL's SQLITE_FULL (this agent's
// mirror), Node's ENOSPC, or the cluster store answering with either in its error text.
import { KvHttpError } from '../kv/index.ts'

const FULL_CODES = new Set(['SQLITE_FULL', 'ENOSPC'])
const FULL_TEXT = /SQLITE_FULL|database or disk is full|ENOSPC|no space left on device/i

/** Where the disk filled up: the cluster store's host, or this agent's own data directory. */
export type DiskFull = 'store' | 'local'

export function diskFull(e: unknown): DiskFull | undefined {
  for (
    let cur = e, depth = 0;
    cur && typeof cur === 'object' && depth < 8;
    cur = (cur as { cause?: unknown }).cause, depth++
  ) {
    if (cur instanceof KvHttpError) return FULL_TEXT.test(cur.body) ? 'store' : undefined
    const { code, message } = cur as { code?: unknown; message?: unknown }
    if (typeof code === 'string' && FULL_CODES.has(code)) return 'local'
    if (typeof message === 'string' && FULL_TEXT.test(message)) return 'local'
  }
  return undefined
}
