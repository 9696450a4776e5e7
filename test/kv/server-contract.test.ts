// Runs the KV contract suite against our server (with and without an ACL token) and,
// when CONSUL_ADDR is set (e.g. http://127.0.0.1:8500), against a real Consul too.
import { afterAll, beforeAll } from 'bun:test'
import { runKvContract } from './contract.ts'
import { startTestServer, type TestServer } from './helpers.ts'

let open: TestServer
let secured: TestServer
const TOKEN = 'contract-secret-token'

beforeAll(async () => {
  open = await startTestServer()
  secured = await startTestServer({ token: TOKEN })
})
afterAll(async () => {
  await open?.cleanup()
  await secured?.cleanup()
})

runKvContract(
  'weft server',
  () => ({ baseUrl: open.kv.url, sessionTtlMinMs: 1000, restart: () => open.restart() }),
  { restart: true },
)
runKvContract(
  'weft server with token',
  () => ({ baseUrl: secured.kv.url, token: TOKEN, sessionTtlMinMs: 1000 }),
  { acl: true },
)

const consulAddr = process.env.CONSUL_ADDR
if (consulAddr) {
  runKvContract(
    `real Consul at ${consulAddr}`,
    () => ({
      baseUrl: consulAddr.replace(/\/+$/, ''),
      token: process.env.CONSUL_HTTP_TOKEN || undefined,
      sessionTtlMinMs: 10_000,
    }),
    { acl: !!process.env.CONSUL_HTTP_TOKEN },
  )
}
