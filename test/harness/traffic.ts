// Traffic helpers that report what actually arrived: ping with DF/size, and an
// integrity-checked TCP transfer between two namespaces.
import { join } from 'node:path'
import { runIn, spawnIn } from './exec.ts'
import { waitFor } from './wait.ts'

export interface PingResult {
  sent: number
  received: number
  output: string
  /** An ICMP "fragmentation needed" (or local "message too long") was reported. */
  fragNeeded: boolean
  /** The MTU the ICMP error or local error named, if any. */
  mtuReported?: number
}

export interface PingOptions {
  count?: number
  /** ICMP payload bytes (ping -s). */
  size?: number
  /** Set DF and never fragment locally (ping -M do). */
  df?: boolean
  /** Per-reply wait in ms (default 1000). */
  timeoutMs?: number
  intervalS?: number
}

export async function ping(ns: string, ip: string, opts: PingOptions = {}): Promise<PingResult> {
  const count = opts.count ?? 3
  const cmd = ['ping', '-n', '-c', String(count), '-i', String(opts.intervalS ?? 0.2)]
  cmd.push('-W', String(Math.max(1, Math.ceil((opts.timeoutMs ?? 1000) / 1000))))
  if (opts.size !== undefined) cmd.push('-s', String(opts.size))
  if (opts.df) cmd.push('-M', 'do')
  cmd.push(ip)
  const r = await runIn(ns, cmd)
  const output = r.stdout + r.stderr
  const stats = output.match(/(\d+) packets transmitted, (\d+) received/)
  const mtu = output.match(/mtu ?= ?(\d+)/i)
  return {
    sent: stats ? Number(stats[1]) : 0,
    received: stats ? Number(stats[2]) : 0,
    output,
    fragNeeded: /frag needed|message too long/i.test(output),
    mtuReported: mtu ? Number(mtu[1]) : undefined,
  }
}

export interface TransferResult {
  ok: boolean
  bytesSent: number
  bytesReceived: number
  sha256Sent: string
  sha256Received: string
  seconds: number
}

const PEERS = join(import.meta.dir, 'tcp-peers.ts')

/** Send `bytes` over TCP from `fromNs` to `toIp` (a sink started in `toNs`) and compare hashes. */
export async function tcpTransfer(
  fromNs: string,
  toNs: string,
  toIp: string,
  opts: { bytes: number; port?: number; timeoutMs?: number },
): Promise<TransferResult> {
  const port = opts.port ?? 5201 + Math.floor(Math.random() * 1000)
  const sink = spawnIn(toNs, [process.execPath, PEERS, 'sink', String(port)])
  try {
    await waitFor(() => sink.stdout().includes('listening'), {
      what: `tcp sink on ${toNs}:${port}`,
    })
    const started = performance.now()
    const source = spawnIn(fromNs, [
      process.execPath,
      PEERS,
      'source',
      toIp,
      String(port),
      String(opts.bytes),
    ])
    const timeout = opts.timeoutMs ?? 60_000
    const deadline = setTimeout(() => void source.stop(100), timeout)
    await source.exited
    clearTimeout(deadline)
    const code = await Promise.race([sink.exited, Bun.sleep(timeout).then(() => -1)])
    const seconds = (performance.now() - started) / 1000
    const lastJson = (s: string) => {
      const line = s
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .pop()
      return line
        ? (JSON.parse(line) as { bytes: number; sha256: string })
        : { bytes: 0, sha256: '' }
    }
    const sent = lastJson(source.stdout())
    const got = code === -1 ? { bytes: 0, sha256: '' } : lastJson(sink.stdout())
    return {
      ok: sent.bytes === opts.bytes && got.bytes === sent.bytes && got.sha256 === sent.sha256,
      bytesSent: sent.bytes,
      bytesReceived: got.bytes,
      sha256Sent: sent.sha256,
      sha256Received: got.sha256,
      seconds,
    }
  } finally {
    await sink.stop(200)
  }
}
