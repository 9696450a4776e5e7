// Progress lines on stderr while the suite runs: step i/N, what runs, and the figure it got.
export function createProgress(total: number) {
  let i = 0
  let label = ''
  let stepStart = 0
  const t0 = Date.now()
  const width = String(total).length
  const clock = () => {
    const s = Math.round((Date.now() - t0) / 1000)
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`
  }
  const tag = () => `[${String(i).padStart(width)}/${total} ${clock()}]`
  const write = (s: string) => process.stderr.write(s + '\n')
  return {
    step(what: string) {
      i++
      label = what
      stepStart = Date.now()
      write(`${tag()} ${what} …`)
    },
    done(result: string) {
      write(`${tag()} ${label} → ${result} (${((Date.now() - stepStart) / 1000).toFixed(1)} s)`)
    },
    note(msg: string) {
      write(`${' '.repeat(tag().length)} ${msg}`)
    },
    finish(msg: string) {
      write(`done in ${clock()}: ${msg}`)
    },
  }
}
