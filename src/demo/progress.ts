// Numbered steps a person can follow: what each does, what it showed, how long it took.
// When the reader goes away (`weft demo | head`), the first write fails with
// OutputClosedError (the step under way stops) and every later one is dropped, so the
// clean-up still runs to the end without reporting anything as done.
import type { CliIo } from '../cli/_context.ts'
import { OutputClosedError } from '../cli/stdio.ts'

export interface Progress {
  step<T>(title: string, what: string, fn: () => Promise<T>): Promise<T>
  /** A detail line under the current step. */
  info(line: string): void
  /** A command the user could type, followed by its output. */
  shell(command: string, output: string): void
  line(text?: string): void
}

export function createProgress(sink: CliIo, total: number): Progress {
  let closed = false
  const io = {
    out(text: string) {
      if (closed) return
      try {
        sink.out(text)
      } catch (e) {
        if (e instanceof OutputClosedError) closed = true
        throw e
      }
    },
  }
  const color = sink.isTty && !process.env.NO_COLOR
  const c = (code: number) => (s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s)
  const bold = c(1)
  const dim = c(2)
  const green = c(32)
  const red = c(31)
  const cyan = c(36)
  let n = 0
  const ms = (t: number) => (t < 1000 ? `${Math.round(t)} ms` : `${(t / 1000).toFixed(1)} s`)
  return {
    async step(title, what, fn) {
      n++
      io.out('')
      io.out(bold(`[${n}/${total}] ${title}`))
      for (const l of what.split('\n')) io.out(dim(`      ${l}`))
      const t0 = performance.now()
      try {
        const r = await fn()
        io.out(green(`      ✓ ${ms(performance.now() - t0)}`))
        return r
      } catch (e) {
        io.out(red(`      ✗ failed after ${ms(performance.now() - t0)}`))
        throw e
      }
    },
    info(line) {
      for (const l of line.split('\n')) io.out(`      ${l}`)
    },
    shell(command, output) {
      io.out(cyan(`      $ ${command}`))
      for (const l of output.split('\n')) io.out(`      ${l}`)
    },
    line(text = '') {
      io.out(text)
    },
  }
}
