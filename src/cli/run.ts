// Runs the weft command line and returns the exit code; src/main.ts is the only place that
// exits. 0 ok, 1 an operation failed, 2 bad usage. Errors go to stderr as one line that says
// what to do, then "See 'weft … --help'." for usage errors.
import { ValidationError, WeftError } from '../errors/index.ts'
import { takeGlobalFlags } from './_args.ts'
import { createContext, type CliIo } from './_context.ts'
import { CliError, UsageError } from './_errors.ts'
import { GLOBAL_FLAGS, ROOT, ROOT_SUMMARY } from './commands.ts'
import { commandHelp, groupHelp } from './help.ts'
import type { CommandGroup, CommandNode, LeafCommand } from './spec.ts'
import { processIo, OutputClosedError } from './stdio.ts'
import { closest } from './suggest.ts'

const findChild = (g: CommandGroup, word: string): CommandNode | undefined =>
  g.commands.find((c) => c.name === word || c.aliases?.includes(word))

interface Resolved {
  node: CommandNode
  /** "network create" */
  path: string
  /** The command's own arguments (after its name). */
  args: string[]
}

/** Walk the table along argv: the deepest command named, and what follows it. */
export function resolveCommand(argv: string[]): Resolved {
  let node: CommandNode = ROOT
  const path: string[] = []
  let i = 0
  while (node.kind === 'group' && i < argv.length) {
    const word = argv[i]!
    if (word.startsWith('-')) break
    const next = findChild(node, word)
    if (!next) {
      const where = path.length ? `weft ${path.join(' ')}` : 'weft'
      const guess = closest(
        word,
        node.commands.flatMap((c) => [c.name, ...(c.aliases ?? [])]),
      )
      throw new UsageError(
        `unknown command "${word}" for "${where}"${guess ? ` (did you mean "${guess}"?)` : ''}`,
        path.join(' ') || undefined,
      )
    }
    node = next
    path.push(next.name)
    i++
  }
  return { node, path: path.join(' '), args: argv.slice(i) }
}

const wantsHelp = (args: string[]) => {
  const end = args.indexOf('--')
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h')
}

async function printVersion(io: CliIo) {
  // package.json is the version's source (compile.ts embeds the same); nothing else loads
  const { version } = (await import('../../package.json')).default
  io.out(`weft ${version}`)
}

export async function runCli(
  argv: string[],
  io: CliIo = processIo,
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  try {
    const globals = takeGlobalFlags(argv)
    const rest = globals.rest
    // as docker: `weft --version` prints the version, whatever follows
    if (rest[0] === '--version' || rest[0] === '-v') {
      await printVersion(io)
      return 0
    }
    const { node, path, args } = resolveCommand(rest)
    if (node.kind === 'group') {
      // `weft network` alone lists its commands, as `docker network` does
      const stray = args.find((a) => a !== '--help' && a !== '-h')
      if (stray !== undefined) {
        const known =
          node === ROOT ? ['--host', '-H', '--version', '-v', '--help', '-h'] : ['--help', '-h']
        const guess = closest(stray, known)
        throw new UsageError(
          `unknown flag: ${stray}${guess ? ` (did you mean ${guess}?)` : ''}`,
          path || undefined,
        )
      }
      io.out(
        groupHelp(
          path,
          node,
          node === ROOT ? { summary: ROOT_SUMMARY, globalFlags: GLOBAL_FLAGS } : undefined,
        ),
      )
      return 0
    }
    const leaf: LeafCommand = node
    if (wantsHelp(args)) {
      io.out(commandHelp(path, leaf))
      return 0
    }
    // node:util costs ~3 ms to load: only commands that parse flags pay it, help does not
    const { parseCommandLine } = await import('./parse.ts')
    const input = parseCommandLine(leaf, path, args)
    const ctx = createContext(globals.host, io, env)
    const mod = await leaf.load()
    await mod.run(ctx, input)
    return 0
  } catch (e) {
    return report(e, io, env)
  }
}

function report(e: unknown, io: CliIo, env: Record<string, string | undefined>): number {
  const err = e as Error
  // the reader went away (`weft … | head`): nothing more to say, and nowhere to say it
  if (err instanceof OutputClosedError) return 1
  if (err instanceof UsageError) {
    io.err(`Error: ${err.message}`)
    io.err(`See 'weft ${err.command ? `${err.command} ` : ''}--help'.`)
    return 2
  }
  // bad flag values the agent's config refused: the command line is wrong
  if (err instanceof ValidationError) {
    io.err(`Error: ${err.message}`)
    return 2
  }
  if (err instanceof CliError) {
    io.err(`Error: ${err.message}`)
    return err.exitCode
  }
  if (err instanceof WeftError) {
    io.err(`Error: ${err.message}`)
    return 1
  }
  io.err(`Error: ${err?.message ?? String(e)}`)
  if (env.WEFT_DEBUG) io.err(String(err?.stack ?? ''))
  return 1
}
