// What this agent knows about its cluster store's reachability: set by every answer and
// failure of the watch, the registration and API writes; read by health and metrics.
export class StoreStatus {
  private ok = false
  private error: string | undefined
  private lastAnswer = 0

  /** The store answered. */
  answered(): void {
    this.ok = true
    this.error = undefined
    this.lastAnswer = Date.now()
  }

  /** A request to the store failed for want of an answer. */
  failed(message: string): void {
    this.ok = false
    this.error = message
  }

  get reachable(): boolean {
    return this.ok
  }

  get lastError(): string | undefined {
    return this.error
  }

  /** Seconds since the store last answered; -1 before its first answer. */
  secondsSinceAnswer(): number {
    return this.lastAnswer ? (Date.now() - this.lastAnswer) / 1000 : -1
  }
}
