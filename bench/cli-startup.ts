// CLI start-up: how long `dist/weft` takes, and how much memory it peaks at, for commands
// that only print help or call the admin API (target: median < 30 ms wall, < 40 MB peak).
// bench/run.ts runs it into the results and REPORT.md; standalone:
//   bun run bench/cli-startup.ts [--runs N] [--weft PATH]
//
// Each run is one spawn of the binary: wall = spawn to exit as seen by this process; peak =
// max RSS of a second run under GNU time (/usr/bin/time -f %M). The API commands talk
// to a stand-in admin API on a unix socket in a temporary directory (Bun.serve answering
// the routes with the agent's JSON shapes), so the figure is the CLI's own cost, not the
// agent's; no network, no root.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { median } from './lib/stats.ts'

export const CLI_WALL_TARGET_MS = 30
export const CLI_RSS_TARGET_MB = 40

export interface CliStartupFigure {
  /** The command as typed, e.g. "weft network ls". */
  command: string
  runs: number
  wallMs: { median: number; min: number; max: number }
  peakMb: { median: number; min: number; max: number }
  /** Exit codes seen (all 0 when the command worked). */
  exitCodes: number[]
}

export interface CliStartupResult {
  weft: string
  runs: number
  commands: CliStartupFigure[]
  /** A compiled Bun program that prints one line: the floor no Bun CLI can go below. */
  floor?: CliStartupFigure
  floorError?: string
}

const NETWORK = {
  Name: 'blue',
  Id: 'b'.repeat(64),
  Created: '2026-01-01T00:00:00.000Z',
  Scope: 'global',
  Driver: 'overlay',
  EnableIPv6: false,
  IPAM: {
    Driver: 'default',
    Options: null,
    Config: [{ Subnet: '10.0.1.0/24', Gateway: '10.0.1.254' }],
  },
  Internal: false,
  Attachable: true,
  Containers: {},
  Options: { 'com.docker.network.driver.overlay.vxlanid_list': '256' },
  Labels: {},
}
const NODE = {
  name: 'h1',
  alive: true,
  endpoints: 0,
  advertise: '198.18.0.1',
  datapath: 'bpf',
  version: '0.1.0',
}

/** The admin API routes the measured commands call, with the agent's answer shapes. */
function standInApi(socket: string) {
  return Bun.serve({
    unix: socket,
    fetch(req) {
      const path = new URL(req.url).pathname
      if (path === '/v1/networks') return Response.json([NETWORK])
      if (path === '/v1/networks/blue') return Response.json(NETWORK)
      if (path === '/v1/nodes') return Response.json([NODE])
      return Response.json({ error: 'not_found', message: `no route ${path}` }, { status: 404 })
    },
  })
}

const spread = (xs: number[]) => ({
  median: median(xs),
  min: Math.min(...xs),
  max: Math.max(...xs),
})

const TIME = '/usr/bin/time'

/** Peak RSS (MB) of one run of argv, as GNU time reports it (%M, from its own wait4). */
async function peakMb(argv: string[]): Promise<number> {
  const p = Bun.spawn([TIME, '-f', 'weft-peak-kb %M', ...argv], {
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
  })
  const [err] = await Promise.all([new Response(p.stderr).text(), p.exited])
  const kb = /weft-peak-kb (\d+)\s*$/.exec(err)?.[1]
  if (!kb) throw new Error(`${TIME} printed no peak RSS for ${argv.join(' ')}: ${err.slice(-200)}`)
  return Number(kb) / 1024
}

/**
 * Spawn argv `runs` times (after one warm-up): wall from spawn to exit here, peak RSS from
 * a second run under GNU time. Not this process's rusage: a child's ru_maxrss counts the
 * pages it shared with its parent before exec, and this process is larger than the CLI.
 */
async function measure(label: string, argv: string[], runs: number): Promise<CliStartupFigure> {
  const walls: number[] = []
  const peaks: number[] = []
  const codes: number[] = []
  for (let i = 0; i <= runs; i++) {
    const t0 = performance.now()
    const p = Bun.spawn(argv, {
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'ignore',
      env: { ...process.env, NO_COLOR: '1' },
    })
    const code = await p.exited
    const wall = performance.now() - t0
    if (i === 0) continue // warm-up: page cache, first-run costs
    walls.push(wall)
    codes.push(code)
    peaks.push(await peakMb(argv))
  }
  return {
    command: label,
    runs,
    wallMs: spread(walls),
    peakMb: spread(peaks),
    exitCodes: [...new Set(codes)],
  }
}

/** A compiled one-line Bun program, built into `dir`: the start-up floor. */
async function buildFloor(dir: string): Promise<string> {
  const src = join(dir, 'hello.ts')
  await Bun.write(src, "console.log('hello')\n")
  const out = join(dir, 'hello')
  const r = await Bun.build({ entrypoints: [src], compile: { outfile: out } } as Parameters<
    typeof Bun.build
  >[0])
  if (!r.success)
    throw new Error(`building the floor program failed: ${r.logs.map(String).join('; ')}`)
  return out
}

export async function measureCliStartup(opts: {
  weft: string
  runs?: number
}): Promise<CliStartupResult> {
  const runs = opts.runs ?? 20
  if (!existsSync(TIME))
    throw new Error(`${TIME} is missing: apt-get install time (it reports each run's peak memory)`)
  const dir = mkdtempSync(join(tmpdir(), 'weft-cli-startup-'))
  const socket = join(dir, 'api.sock')
  const server = standInApi(socket)
  const host = ['-H', `unix://${socket}`]
  try {
    const cases: [string, string[]][] = [
      ['weft --help', ['--help']],
      ['weft network', ['network']],
      ['weft network ls --help', ['network', 'ls', '--help']],
      ['weft network ls', [...host, 'network', 'ls']],
      ['weft network inspect blue', [...host, 'network', 'inspect', 'blue']],
      ['weft node ls', [...host, 'node', 'ls']],
    ]
    const commands: CliStartupFigure[] = []
    for (const [label, args] of cases)
      commands.push(await measure(label, [opts.weft, ...args], runs))
    const result: CliStartupResult = { weft: opts.weft, runs, commands }
    try {
      result.floor = await measure('compiled Bun "hello"', [await buildFloor(dir)], runs)
    } catch (e) {
      result.floorError = (e as Error).message
    }
    return result
  } finally {
    server.stop(true)
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The slowest median wall and the largest median peak over the measured commands. */
export function worstOf(r: CliStartupResult): {
  wallMs: number
  peakMb: number
  wallCommand: string
  peakCommand: string
} {
  const byWall = [...r.commands].sort((a, b) => b.wallMs.median - a.wallMs.median)[0]!
  const byPeak = [...r.commands].sort((a, b) => b.peakMb.median - a.peakMb.median)[0]!
  return {
    wallMs: byWall.wallMs.median,
    peakMb: byPeak.peakMb.median,
    wallCommand: byWall.command,
    peakCommand: byPeak.command,
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: { runs: { type: 'string' }, weft: { type: 'string' } },
    strict: true,
  })
  const weft = values.weft ?? join(import.meta.dir, '..', 'dist', 'weft')
  const runs = values.runs === undefined ? 20 : Number(values.runs)
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`--runs ${values.runs}: give a whole number of runs, at least 1`)
  const r = await measureCliStartup({ weft, runs })
  const row = (f: CliStartupFigure) =>
    `${f.command.padEnd(28)} ${f.wallMs.median.toFixed(1).padStart(6)} ms (${f.wallMs.min.toFixed(1)}-${f.wallMs.max.toFixed(1)})  ${f.peakMb.median.toFixed(1).padStart(5)} MB  exit ${f.exitCodes.join(',')}`
  console.log(`median of ${runs} runs each, after one warm-up: wall, peak RSS`)
  for (const f of r.commands) console.log(row(f))
  if (r.floor) console.log(row(r.floor))
  if (r.floorError) console.log(`floor: ${r.floorError}`)
}
