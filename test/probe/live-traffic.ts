// Traffic that runs while something happens to the hosts, and says afterwards what it lost: a
// ping flood (every reply counted) and an iperf3 TCP stream (one connection; every second of it
// must have moved bytes). Used by test/probe/agent-down.test.ts and bench/agent-down.ts.
import { join } from 'node:path'
import { openPinnedMap, TypedMap } from '../../src/bpf/index.ts'
import { epCodec, epKeyCodec } from '../../src/datapath/bpf/abi.ts'
import { PIN_ROOT } from '../../src/datapath/index.ts'
import { ipv4ToInt } from '../../src/net/index.ts'
import { runIn, spawnIn, waitFor, type NsProcess } from '../harness/index.ts'

export interface PingFlood {
  /** Resolves when every ping was sent and its reply waited for (or after stop()). */
  done: Promise<{ sent: number; received: number; output: string }>
  /** End it early (SIGINT: ping still prints its summary); resolves with what it counted. */
  stop(): Promise<{ sent: number; received: number; output: string }>
  proc: NsProcess
}

/** `count` pings every `intervalMs` from `ns` to `ip`. */
export function pingFlood(
  ns: string,
  ip: string,
  o: { count: number; intervalMs: number },
): PingFlood {
  const proc = spawnIn(ns, [
    'ping',
    '-n',
    '-q',
    '-c',
    String(o.count),
    '-i',
    String(o.intervalMs / 1000),
    '-W',
    '1',
    ip,
  ])
  let ended = false
  const done = proc.exited.then(() => {
    ended = true
    const output = proc.stdout() + proc.stderr()
    // no summary (killed): nothing counted, which every check on `sent` catches
    const m = output.match(/(\d+) packets transmitted, (\d+) received/)
    return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), output }
  })
  return {
    done,
    proc,
    async stop() {
      // nsenter execs ping in place: this pid is ping's
      if (!ended) process.kill(proc.pid, 'SIGINT')
      return done
    },
  }
}

export interface TcpStream {
  /** Resolves when the stream ended: ok when it ran to its end and no second stalled. */
  done: Promise<{
    ok: boolean
    why?: string
    seconds: number
    stalledSeconds: number[]
    bytes: number
    retransmits: number
  }>
  stop(): Promise<void>
}

/** One iperf3 TCP connection from `fromNs` to `toIp` (server in `toNs`) for `seconds` at `mbps`. */
export async function tcpStream(
  fromNs: string,
  toNs: string,
  toIp: string,
  o: { seconds: number; mbps: number; port?: number },
): Promise<TcpStream> {
  const port = String(o.port ?? 5201)
  const server = spawnIn(toNs, ['iperf3', '-s', '-1', '-p', port])
  await waitFor(
    async () => (await runIn(toNs, ['ss', '-Hltn', `sport = :${port}`])).stdout.includes(port),
    { what: `iperf3 server in ${toNs}` },
  )
  const client = spawnIn(fromNs, [
    'iperf3',
    '-c',
    toIp,
    '-p',
    port,
    '-t',
    String(o.seconds),
    '-b',
    `${o.mbps}M`,
    '-J',
    '--connect-timeout',
    '3000',
  ])
  // a stream that stalls for good never ends by itself: it fails after a generous deadline
  const deadline = setTimeout(() => void client.stop(200), (o.seconds + 30) * 1000)
  const done = client.exited.then((code) => {
    clearTimeout(deadline)
    let j: any
    try {
      j = JSON.parse(client.stdout())
    } catch {
      return {
        ok: false,
        why: `iperf3 exited ${code} without JSON: ${client.stderr().slice(-500)}`,
        seconds: 0,
        stalledSeconds: [],
        bytes: 0,
        retransmits: 0,
      }
    }
    const intervals: { sum: { start: number; bytes: number } }[] = j.intervals ?? []
    const stalledSeconds = intervals
      .filter((i) => i.sum.bytes === 0)
      .map((i) => Math.round(i.sum.start))
    const bytes = j.end?.sum_received?.bytes ?? 0
    const seconds = j.end?.sum_received?.seconds ?? 0
    const why = j.error
      ? `iperf3: ${j.error}`
      : code !== 0
        ? `iperf3 exited ${code}`
        : stalledSeconds.length
          ? `no bytes in seconds ${stalledSeconds.join(', ')}`
          : undefined
    return {
      ok: !why,
      ...(why && { why }),
      seconds,
      stalledSeconds,
      bytes,
      retransmits: j.end?.sum_sent?.retransmits ?? 0,
    }
  })
  return {
    done,
    async stop() {
      await client.stop(200)
      await server.stop(200)
    },
  }
}

/** Whether `node`'s datapath programs (vni, ip), read from its pinned vx_eps map. */
export function programs(node: string, vni: number, ip: string): boolean {
  const m = openPinnedMap(join(PIN_ROOT, node, 'vx_eps'))
  try {
    return new TypedMap(m, epKeyCodec, epCodec).lookup({ vni, ip: ipv4ToInt(ip) }) !== undefined
  } finally {
    m.close()
  }
}
