// The simulator's store process: weft's embedded Consul-compatible KV server (real HTTP, real
// libSQL), with every response's bytes counted, so the simulator can tell what the store sends
// per change. GET /sim/stats answers {bytes, responses, waiters, index, keys}; it is the only
// addition. Usage: bun bench/sim/store.ts DB_PATH PORT (prints "ready <url>" on stdout).
import { createKvServer } from '../../src/kv/index.ts'

const [dbPath, portArg] = process.argv.slice(2)
if (!dbPath || !portArg) throw new Error('usage: bun bench/sim/store.ts DB_PATH PORT')

const kv = await createKvServer({
  dbPath,
  nodeName: 'sim-store',
  advertise: `127.0.0.1:${portArg}`,
  sessionTtlMinMs: 1000,
})
let bytes = 0
let responses = 0
const headerBytes = (h: Headers) => {
  let n = 17 // "HTTP/1.1 200 OK\r\n"
  h.forEach((v, k) => (n += k.length + v.length + 4))
  return n + 2
}

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(portArg),
  idleTimeout: 0,
  async fetch(req, srv) {
    if (new URL(req.url).pathname === '/sim/stats') {
      const s = kv.stats()
      return Response.json({
        bytes,
        responses,
        waiters: s.waiters,
        index: String(s.index),
        keys: s.keys,
      })
    }
    const res = await kv.fetch(req, { server: srv })
    const body = new Uint8Array(await res.arrayBuffer())
    bytes += body.byteLength + headerBytes(res.headers)
    responses++
    return new Response(body, { status: res.status, headers: res.headers })
  },
})
console.log(`ready http://127.0.0.1:${server.port}`)

const stop = async () => {
  server.stop(true)
  await kv.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
// the driver is gone (killed): do not outlive it
const parent = process.ppid
setInterval(() => process.ppid !== parent && void stop(), 1000).unref()
