// Remembers that a write through the API failed because a disk was full, until a later write
// succeeds, so /healthz can say so (the write's own answer was a 507, but who reads that twice).
// It sees only writes that came through the API; the agent's background writes report their
// own failures in its HealthReport.

export interface DiskFullState {
  full: true
  /** When the first write of this episode failed (ISO 8601). */
  since: string
  /** The last such failure, as the API answered it. */
  lastError: string
}

export class DiskFullWatch {
  private current: DiskFullState | undefined

  /** A write was refused with disk_full. */
  saw(message: string): void {
    this.current = {
      full: true,
      since: this.current?.since ?? new Date().toISOString(),
      lastError: message,
    }
  }

  /** A write succeeded: whatever filled the disk has been fixed. */
  cleared(): void {
    this.current = undefined
  }

  get state(): DiskFullState | undefined {
    return this.current
  }
}
