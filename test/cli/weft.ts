// Runs the built CLI (dist/weft) the way a user does and collects what it printed.
import { WEFT } from '../agent/agents.ts'

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

export async function weft(
  args: string[],
  opts: { env?: Record<string, string | undefined>; ns?: string; stdin?: string } = {},
): Promise<CliResult> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries({ ...process.env, NO_COLOR: '1', ...opts.env }))
    if (v !== undefined) env[k] = v
  const cmd = opts.ns ? ['nsenter', `--net=/run/netns/${opts.ns}`, WEFT, ...args] : [WEFT, ...args]
  // stdin: what the user types (e.g. "y\n" for a prompt); none: /dev/null, an empty input
  const stdin = opts.stdin === undefined ? 'ignore' : new TextEncoder().encode(opts.stdin)
  const proc = Bun.spawn(cmd, { stdin, stdout: 'pipe', stderr: 'pipe', env })
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  return { code, stdout, stderr }
}

/** `weft --host unix://<socket> …` */
export const weftAt =
  (socket: string) =>
  (args: string[], opts: { env?: Record<string, string | undefined>; stdin?: string } = {}) =>
    weft(['--host', `unix://${socket}`, ...args], opts)
