// A datapath inside a host namespace, driven over JSON lines, exactly as the agent runs it:
//
//   nsenter --net=/run/netns/<host-ns> bun run test/datapath/driver.ts --kind bpf|kernel|none --node N --advertise IP
//
// stdin:  {"id":1,"method":"upsertNetwork","params":[{...}]}      params = positional arguments
// stdout: {"id":1,"result":...} | {"id":1,"error":{"code","name","message"}}   (bigints as strings)
// Methods: every Datapath method, "endpointCounts" (how many endpoints actual() lists), plus "net.plumbEndpoint", "net.unplumbEndpoint" and
// "net.findUnderlay", "net.unplumbEndpoints" (src/net, for the plumbing tests; available with --kind none).
// On stdin EOF the datapath is closed (not torn down) and the process exits 0.
// The client lives in ./driver-client.ts.
import { parseArgs } from 'node:util'
import { createDatapath } from '../../src/datapath/index.ts'
import type { Datapath } from '../../src/datapath/types.ts'
import {
  findUnderlay,
  plumbEndpoint,
  unplumbEndpoint,
  unplumbEndpoints,
} from '../../src/net/index.ts'
import { lines } from '../../src/util/lines.ts'

/** One request line. */
export interface DriverRequest {
  id: number
  method: string
  params?: unknown[]
}

/** One response line. */
export type DriverResponse =
  | { id: number; result: unknown }
  | { id: number; error: { code: string; name: string; message: string } }

const DATAPATH_METHODS = new Set([
  'start',
  'upsertNetwork',
  'removeNetwork',
  'attachEndpoint',
  'detachEndpoint',
  'upsertRemoteEndpoint',
  'removeRemoteEndpoint',
  'setMembers',
  'actual',
  'endpointCounts',
  'stats',
  'close',
  'teardown',
])

const NET_METHODS: Record<string, (...args: never[]) => Promise<unknown>> = {
  'net.plumbEndpoint': plumbEndpoint,
  'net.unplumbEndpoint': unplumbEndpoint,
  'net.findUnderlay': findUnderlay,
  'net.unplumbEndpoints': unplumbEndpoints,
}

/** JSON with bigints as decimal strings. */
export function encode(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x))
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: { kind: { type: 'string' }, node: { type: 'string' }, advertise: { type: 'string' } },
  })
  const kind = values.kind
  if (kind !== 'bpf' && kind !== 'kernel' && kind !== 'none') {
    throw new Error('--kind must be bpf, kernel or none')
  }
  let dp: Datapath | undefined
  if (kind !== 'none') {
    if (!values.node || !values.advertise) throw new Error('--node and --advertise are required')
    dp = await createDatapath(kind, { node: values.node, advertise: values.advertise })
  }

  const out = (r: DriverResponse) => process.stdout.write(encode(r) + '\n')
  const handle = async (req: DriverRequest) => {
    try {
      const args = Array.isArray(req.params)
        ? req.params
        : req.params === undefined
          ? []
          : [req.params]
      let result: unknown
      const net = NET_METHODS[req.method]
      if (net) {
        result = await (net as (...a: unknown[]) => Promise<unknown>)(...args)
      } else if (DATAPATH_METHODS.has(req.method)) {
        if (!dp)
          throw Object.assign(new Error('no datapath (--kind none)'), { code: 'no_datapath' })
        const fn = (dp as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[
          req.method
        ]
        // endpointCounts: the BPF datapath's cheap count; any other datapath counts actual()
        result = fn
          ? await fn.apply(dp, args)
          : req.method === 'endpointCounts'
            ? await dp.actual().then((a) => ({
                local: a.localEndpoints.length,
                remote: a.remoteEndpoints.length,
              }))
            : await Promise.reject(new Error(`the datapath has no method ${req.method}`))
      } else {
        throw Object.assign(new Error(`unknown method ${req.method}`), { code: 'unknown_method' })
      }
      out({ id: req.id, result: result ?? null })
    } catch (err) {
      const e = err as { code?: string; name?: string; message?: string }
      out({
        id: req.id,
        error: {
          code: e.code ?? 'error',
          name: e.name ?? 'Error',
          message: e.message ?? String(err),
        },
      })
    }
  }

  // Requests run concurrently (as the reconciler may call them); each answers with its id.
  const pending: Promise<void>[] = []
  for await (const raw of lines(Bun.stdin.stream())) {
    const line = raw.trim()
    if (!line) continue
    let req: DriverRequest
    try {
      req = JSON.parse(line) as DriverRequest
    } catch {
      out({
        id: -1,
        error: {
          code: 'bad_request',
          name: 'SyntaxError',
          message: `not JSON: ${line.slice(0, 80)}`,
        },
      })
      continue
    }
    pending.push(handle(req))
  }
  await Promise.all(pending)
  await dp?.close()
}

if (import.meta.main) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`driver: ${(err as Error).stack ?? String(err)}\n`)
      process.exit(1)
    },
  )
}
