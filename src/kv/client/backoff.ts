// Capped exponential backoff with jitter, a token bucket, and an abortable sleep.

export interface BackoffOptions {
  /** First delay in ms (default 100). */
  baseMs?: number
  /** Cap in ms (default 30 s). */
  maxMs?: number
}

/** delay(n) = min(max, base * 2^n), then "equal jitter": uniformly in [delay/2, delay]. */
export class Backoff {
  private attempt = 0
  private readonly base: number
  private readonly max: number
  constructor(o: BackoffOptions = {}) {
    this.base = o.baseMs ?? 100
    this.max = o.maxMs ?? 30_000
  }
  next(): number {
    const d = Math.min(this.max, this.base * 2 ** Math.min(this.attempt, 30))
    this.attempt++
    return d / 2 + Math.random() * (d / 2)
  }
  reset(): void {
    this.attempt = 0
  }
  get attempts(): number {
    return this.attempt
  }
}

export interface RateLimit {
  /** Requests allowed back to back (default 5). */
  burst?: number
  /** Sustained requests per second (default 10). */
  perSecond?: number
}

/** Token bucket: take() resolves when a token is available. */
export class TokenBucket {
  private tokens: number
  private last = performance.now()
  private readonly burst: number
  private readonly rate: number
  constructor(o: RateLimit = {}) {
    this.burst = o.burst ?? 5
    this.rate = o.perSecond ?? 10
    this.tokens = this.burst
  }
  async take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const now = performance.now()
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate)
      this.last = now
      if (this.tokens >= 1) {
        this.tokens -= 1
        return
      }
      await sleep(((1 - this.tokens) / this.rate) * 1000, signal)
    }
  }
}

/** Sleep that rejects with the signal's reason when aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(t)
      reject(signal?.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
