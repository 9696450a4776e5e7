// Runs the built CLI (dist/weft) the way a user does and collects what it printed.
import { WEFT } from '../agent/agents.ts'

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

export async function weft(
  args: string[],
  opts: { env?: Record<string, string | undefined>; ns?: string } = {},
): Promise<CliResult> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries({ ...process.env, NO_COLOR: '1', ...opts.env }))
    if (v !== undefined) env[k] = v
  const cmd = opts.ns ? ['nsenter', `--net=/run/netns/${opts.ns}`, WEFT, ...args] : [WEFT, ...args]
  const proc = Bun.spawn(cmd, { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', env })
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
  (args: string[], opts: { env?: Record<string, string | undefined> } = {}) =>
    weft(['--host', `unix://${socket}`, ...args], opts)
