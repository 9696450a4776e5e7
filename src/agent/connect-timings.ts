// Where a local connect spends its time, summed since start: writing the endpoint to the store,
// waiting for it to come back through the watch (the mirror), and waiting for the reconciler to
// attach it. Exposed in /metrics, so a slow connect can be pinned on its phase without a profiler.
export const CONNECT_PHASES = ['write', 'arrive', 'attach'] as const
export type ConnectPhase = (typeof CONNECT_PHASES)[number]

export class ConnectTimings {
  readonly seconds: Record<ConnectPhase, number> = { write: 0, arrive: 0, attach: 0 }
  /** Connects that went through every phase (attached). */
  completed = 0

  /** Time `fn` as `phase`, whatever its outcome. */
  async time<T>(phase: ConnectPhase, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now()
    try {
      return await fn()
    } finally {
      this.seconds[phase] += (performance.now() - t0) / 1000
    }
  }
}
