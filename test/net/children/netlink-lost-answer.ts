// Child of test/net/netlink.test.ts: an rtnetlink request whose answer never comes (the libc
// wrapper swallows the request, so the kernel never answers) must fail after the socket's
// receive timeout instead of blocking the thread; the same socket then works again.
// argv: <netns path> <timeout ms>. Prints one JSON line.
import { RtnlSocket } from '../../../src/net/netlink.ts'
import { getLibc, type Libc } from '../../../src/sys/index.ts'

const [nsPath, timeout] = process.argv.slice(2)
const real = getLibc()
let lose = false
const lossy: Libc = { ...real, send: (fd, data) => (lose ? data.byteLength : real.send(fd, data)) }
const sock = RtnlSocket.open(nsPath, { timeoutMs: Number(timeout), libc: lossy })
lose = true
const t0 = performance.now()
let error: { code?: string; message: string } | undefined
try {
  sock.getLink('lo')
} catch (e) {
  error = { code: (e as { code?: string }).code, message: (e as Error).message }
}
const waitedMs = performance.now() - t0
lose = false
const after = sock.getLink('lo')?.ifname
sock.close()
console.log(JSON.stringify({ error, waitedMs, after }))
