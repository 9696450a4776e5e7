// Polling with a deadline: the only way tests wait for a condition (never a bare sleep).
import { processTails } from './exec.ts'

export interface WaitOptions {
  timeoutMs?: number
  intervalMs?: number
  /** What we are waiting for, for the error message. */
  what: string
}

/** Polls `cond` until it returns a truthy value, and returns that value; throws at the deadline. */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  opts: WaitOptions,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 5000)
  const interval = opts.intervalMs ?? 25
  let lastError: unknown
  for (;;) {
    try {
      const v = await cond()
      if (v) return v as NonNullable<T>
    } catch (e) {
      lastError = e
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : ''
      // what the file's agents logged is the other half of why the wait ran out
      const tails = processTails()
      if (tails)
        console.error(`[waitFor] timed out waiting for ${opts.what}; the agents' logs:\n${tails}`)
      throw new Error(`timed out after ${opts.timeoutMs ?? 5000} ms waiting for ${opts.what}${why}`)
    }
    await Bun.sleep(interval)
  }
}
