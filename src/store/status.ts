// What this agent knows about its cluster store's reachability: set by every answer and
// failure of the watch, the registration and API writes; read by health and metrics.
export class StoreStatus {
  private ok = false
  private error: string | undefined
  private lastAnswer = 0
  private downSince = 0

  /** The store answered. */
  answered(): void {
    this.ok = true
    this.error = undefined
    this.lastAnswer = Date.now()
    this.downSince = 0
  }

  /** A request to the store failed for want of an answer. */
  failed(message: string): void {
    this.ok = false
    this.error = message
    this.downSince ||= Date.now()
  }

  /** Epoch ms of the last answer (0: none since start). */
  get lastAnswerAt(): number {
    return this.lastAnswer
  }

  /** Epoch ms of the first failure after the last answer (0 while it answers). */
  get unreachableSince(): number {
    return this.ok ? 0 : this.downSince
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
