// Running iproute2, for what has no rtnetlink client here yet: the kernel datapath's bridges
// and vxlan devices, and the GRO helper device (its FDB and neighbours go over rtnetlink). Endpoint plumbing never runs
// a process (./endpoint.ts). One exec per batch, never one per step: `ip -batch -` stops at
// the first failing line and names it ("Command failed -:3"), so a caller knows how far a
// batch got and can undo it.
import { WeftError } from '../errors/index.ts'

/** Output of one finished command. */
export interface ExecResult {
  code: number
  stdout: string
  stderr: string
}

/** Run argv to completion, feeding `input` on stdin. Never throws for a non-zero exit. */
export async function exec(argv: string[], input?: string): Promise<ExecResult> {
  let proc
  try {
    proc = Bun.spawn(argv, {
      stdin: input === undefined ? 'ignore' : new Blob([input]),
      stdout: 'pipe',
      stderr: 'pipe',
    })
  } catch (err) {
    throw new WeftError(
      'exec_failed',
      `cannot run ${argv[0]}: ${(err as Error).message} (is it installed and on PATH?)`,
      {
        cause: err,
      },
    )
  }
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  return { code, stdout, stderr }
}

/** argv prefix that runs a command inside the netns at `nsPath` (undefined: the current one). */
export function inNetns(nsPath: string | undefined, argv: string[]): string[] {
  return nsPath === undefined ? argv : ['nsenter', `--net=${nsPath}`, ...argv]
}

/** Failure of an iproute2 command or batch. `line` is the 1-based failing batch line, if known. */
export class IprouteError extends WeftError {
  override name = 'IprouteError'
  constructor(
    message: string,
    readonly stderr: string,
    readonly line?: number,
  ) {
    super('iproute_failed', message)
  }
}

/** Which batch line failed ("Command failed -:3" -> 3), or undefined. */
export function failedBatchLine(stderr: string): number | undefined {
  const m = /Command failed -:(\d+)/.exec(stderr)
  return m ? Number(m[1]) : undefined
}

/** First meaningful kernel/iproute2 message in stderr (drops the "Command failed" trailer). */
export function iprouteMessage(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('Command failed'))
  return lines.join('; ') || 'unknown error'
}

/**
 * Run `tool -batch -` (tool = ip or bridge) with the given lines, optionally inside a netns.
 * With `force`, every line is tried and the batch fails at the end if any did.
 * Throws IprouteError naming the failing line and command.
 */
export async function batch(
  lines: string[],
  opts: { netns?: string; tool?: 'ip' | 'bridge'; force?: boolean; context?: string } = {},
): Promise<void> {
  if (lines.length === 0) return
  const tool = opts.tool ?? 'ip'
  const argv = inNetns(opts.netns, [tool, ...(opts.force ? ['-force'] : []), '-batch', '-'])
  const r = await exec(argv, lines.join('\n') + '\n')
  if (r.code === 0) return
  const line = failedBatchLine(r.stderr)
  const cmd = line !== undefined ? lines[line - 1] : undefined
  const where = opts.context ? `${opts.context}: ` : ''
  throw new IprouteError(
    `${where}\`${tool} ${cmd ?? lines.join(' ; ')}\` failed: ${iprouteMessage(r.stderr)}`,
    r.stderr,
    line,
  )
}

/**
 * Parse iproute2 JSON output. Integers with 16+ digits (64-bit counters) become strings so
 * no precision is lost; convert them with BigInt().
 */
export function parseIprouteJson<T>(text: string): T {
  const t = text.trim()
  if (t === '') return [] as T
  return JSON.parse(t.replace(/(:\s*)(\d{16,})(?=\s*[,}\]])/g, '$1"$2"')) as T
}

/** `ip -j …` (or `bridge -j …`) parsed; a missing device yields [] when `missingOk`. */
export async function iprouteJson<T>(
  argv: string[],
  opts: { netns?: string; context?: string; missingOk?: boolean } = {},
): Promise<T[]> {
  const [tool, ...rest] = argv
  const r = await exec(inNetns(opts.netns, [tool!, '-j', ...rest]))
  if (r.code !== 0) {
    if (opts.missingOk && /does not exist|Cannot find device/.test(r.stderr)) return []
    const where = opts.context ? `${opts.context}: ` : ''
    throw new IprouteError(
      `${where}\`${argv.join(' ')}\` failed: ${iprouteMessage(r.stderr)}`,
      r.stderr,
    )
  }
  return parseIprouteJson<T[]>(r.stdout)
}
