// A stack of stop steps: run in reverse order of registration, once. A failing step is
// logged and the others still run; a second dispose() waits for the first, it never re-runs a step.
export type StopStep = () => Promise<unknown> | unknown

export class DisposerStack {
  private readonly steps: { what: string; step: StopStep }[] = []
  private disposing: Promise<void> | undefined

  constructor(private readonly log: { warn(o: object, m?: string): void }) {}

  /** Register a step; `what` names it in the log if it fails. */
  push(what: string, step: StopStep): void {
    if (this.disposing) throw new Error(`cannot add stop step "${what}": already stopping`)
    this.steps.push({ what, step })
  }

  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      for (let s = this.steps.pop(); s; s = this.steps.pop()) {
        try {
          await s.step()
        } catch (e) {
          this.log.warn({ step: s.what, err: (e as Error).message }, 'stop step failed')
        }
      }
    })()
    return this.disposing
  }
}
