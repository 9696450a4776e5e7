// Two tiny TCP programs run inside namespaces by tcpTransfer(): a sink that hashes what
// arrives and a source that sends deterministic pseudo-random bytes and hashes what it sent.
// Usage: bun tcp-peers.ts sink PORT   |   bun tcp-peers.ts source HOST PORT BYTES
import { createHash } from 'node:crypto'

const [mode, ...args] = process.argv.slice(2)

function chunkFor(index: number, size: number): Uint8Array {
  // xorshift32 seeded per chunk: cheap, deterministic, not compressible
  const out = new Uint8Array(size)
  let x = (index * 2654435761) >>> 0 || 1
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x & 255
    out[i + 1] = (x >>> 8) & 255
    out[i + 2] = (x >>> 16) & 255
    out[i + 3] = (x >>> 24) & 255
  }
  return out
}

if (mode === 'sink') {
  const port = Number(args[0])
  const hash = createHash('sha256')
  let bytes = 0
  Bun.listen({
    hostname: '0.0.0.0',
    port,
    socket: {
      data(_s, data) {
        hash.update(data)
        bytes += data.byteLength
      },
      close() {
        console.log(JSON.stringify({ bytes, sha256: hash.digest('hex') }))
        process.exit(0)
      },
    },
  })
  console.log('listening')
} else if (mode === 'source') {
  const [host, port, total] = [args[0]!, Number(args[1]), Number(args[2])]
  const hash = createHash('sha256')
  const chunkSize = 64 * 1024
  let sent = 0
  let index = 0
  let pending: Uint8Array | null = null
  const socket = await Bun.connect({
    hostname: host,
    port,
    socket: {
      drain(s) {
        pump(s)
      },
      data() {},
      error(_s, e) {
        console.error(e)
        process.exit(1)
      },
    },
  })
  function pump(s: typeof socket) {
    for (;;) {
      if (!pending) {
        if (sent >= total) {
          s.end()
          console.log(JSON.stringify({ bytes: sent, sha256: hash.digest('hex') }))
          return
        }
        const size = Math.min(chunkSize, total - sent)
        pending = chunkFor(index++, size)
        hash.update(pending)
        sent += size
      }
      const n = s.write(pending)
      if (n < pending.byteLength) {
        pending = pending.subarray(n)
        return
      }
      pending = null
    }
  }
  pump(socket)
} else {
  console.error('usage: tcp-peers.ts sink PORT | source HOST PORT BYTES')
  process.exit(2)
}
