// Child of test/net/netns.test.ts: enter a namespace with a libc whose setns back home fails
// (as it would after losing CAP_SYS_ADMIN inside). withNetns must abort the process: nothing
// after it may run, whether `fn` returned or threw.
// argv: <netns path> <returns|throws>
import { writeSync } from 'node:fs'
import { Errno, getLibc, withNetns, type Libc } from '../../../src/sys/index.ts'

// written synchronously: an abort must not swallow what was printed before it
const say = (line: string) => writeSync(1, line + '\n')

const [nsPath, mode] = process.argv.slice(2)
const real = getLibc()
let calls = 0
let fail = false
const stuck: Libc = {
  ...real,
  setns(fd, nstype) {
    if (++calls === 2) {
      fail = true
      return -1
    }
    return real.setns(fd, nstype)
  },
  errno: () => (fail ? Errno.EPERM : real.errno()),
}
try {
  withNetns(
    nsPath!,
    () => {
      say('inside')
      if (mode === 'throws') throw new Error('fn failed')
    },
    stuck,
  )
} catch (e) {
  say(`caught: ${(e as Error).message}`)
}
say('carried on')
