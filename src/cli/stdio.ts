// The process's own output, written with write(2) directly: Node's process.stdout stream
// costs ~10 ms and ~9 MB at start (it loads the stream machinery), more than the rest of a
// `weft network ls`. A closed pipe (`weft … | head`) ends the command with OutputClosedError.
import { readSync, writeSync } from 'node:fs'
import type { CliIo } from './_context.ts'

/** stdout or stderr was closed by the reader (EPIPE): stop, there is nobody to tell. */
export class OutputClosedError extends Error {
  override name = 'OutputClosedError'
  constructor(readonly fd: number) {
    super(`${fd === 1 ? 'stdout' : 'stderr'} was closed by the reader`)
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4))

export function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text)
  let off = 0
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === 'EPIPE') throw new OutputClosedError(fd)
      // a non-blocking pipe that is full: wait 1 ms for the reader
      if (code === 'EAGAIN') Atomics.wait(pause, 0, 0, 1)
      else throw e
    }
  }
}

/** One line of fd 0, read a byte at a time so nothing after it is consumed; undefined at EOF. */
export function readLineSync(fd = 0): string | undefined {
  const bytes: number[] = []
  const one = Buffer.alloc(1)
  for (;;) {
    let n: number
    try {
      n = readSync(fd, one, 0, 1, null)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, 10)
        continue
      }
      if (code === 'EOF') n = 0
      else throw e
    }
    if (n === 0) return bytes.length ? Buffer.from(bytes).toString() : undefined
    if (one[0] === 0x0a) return Buffer.from(bytes).toString().replace(/\r$/, '')
    bytes.push(one[0]!)
  }
}

export const processIo: CliIo = {
  ask(prompt) {
    writeAll(1, prompt)
    return readLineSync(0)
  },
  out: (t) => writeAll(1, `${t}\n`),
  err: (t) => writeAll(2, `${t}\n`),
  // read only by `stats --watch`: touching process.stdout builds the stream
  get isTty() {
    return !!process.stdout.isTTY
  },
}
