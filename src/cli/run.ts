// Runs the weft command line and returns the exit code; src/main.ts is the only place that
// exits. 0 ok, 1 an operation failed, 2 bad usage (ours and citty's own usage errors).
// Errors go to stderr as one line that says what to do.
import { renderUsage, runCommand, type CommandDef } from 'citty'
import { ValidationError, WeftError } from '../errors/index.ts'
import { takeGlobalFlags } from './_args.ts'
import { createContext, type CliIo } from './_context.ts'
import { CliError, UsageError } from './_errors.ts'
import { createRootCommand } from './root.ts'

const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '')

const defaultIo: CliIo = {
  out: (t) => void process.stdout.write(`${t}\n`),
  err: (t) => void process.stderr.write(`${t}\n`),
  isTty: !!process.stdout.isTTY,
}

type AnyCommand = CommandDef<any>

async function resolve<T>(v: T | (() => T | Promise<T>) | Promise<T>): Promise<T> {
  return typeof v === 'function' ? await (v as () => T | Promise<T>)() : await v
}

/** The deepest command named by argv, its parent, and its path ("network create"). */
async function commandFor(root: AnyCommand, argv: string[]): Promise<{ cmd: AnyCommand; parent?: AnyCommand; path: string[] }> {
  let cmd = root
  let parent: AnyCommand | undefined
  const path: string[] = []
  for (const a of argv) {
    if (a === '--') break
    if (a.startsWith('-')) continue
    const subs = cmd.subCommands ? await resolve(cmd.subCommands) : undefined
    if (!subs) break
    let next: AnyCommand | undefined = subs[a] ? await resolve(subs[a]) : undefined
    if (!next) {
      for (const s of Object.values(subs)) {
        const c = await resolve(s)
        const meta = await resolve(c.meta)
        const alias = meta?.alias
        if (alias && (Array.isArray(alias) ? alias : [alias]).includes(a)) next = c
      }
    }
    if (!next) break
    parent = cmd
    cmd = next
    path.push(a)
  }
  return { cmd, parent, path }
}

export async function runCli(argv: string[], io: CliIo = defaultIo, env = process.env): Promise<number> {
  let root: AnyCommand | undefined
  let rest = argv
  try {
    const globals = takeGlobalFlags(argv)
    rest = globals.rest
    const ctx = createContext(globals.host, io, env)
    root = createRootCommand(ctx) as AnyCommand
    const before = rest.indexOf('--') < 0 ? rest : rest.slice(0, rest.indexOf('--'))
    if (before.includes('--help') || before.includes('-h') || rest.length === 0) {
      const { cmd, parent } = await commandFor(root, rest)
      const usage = await renderUsage(cmd, parent)
      io.out(io.isTty ? usage : stripAnsi(usage))
      return 0
    }
    if (rest.length === 1 && (rest[0] === '--version' || rest[0] === '-v')) {
      const meta = await resolve(root.meta)
      io.out(`weft ${meta?.version ?? ''}`.trim())
      return 0
    }
    await runCommand(root, { rawArgs: rest })
    return 0
  } catch (e) {
    const err = e as Error
    const usage = err instanceof UsageError || err?.name === 'CLIError' || err instanceof ValidationError
    if (usage) {
      io.err(`Error: ${stripAnsi(err.message)}`)
      if (root && !(err instanceof ValidationError)) {
        const path = err instanceof UsageError && err.command ? err.command.split(' ') : (await commandFor(root, rest)).path
        io.err(`See 'weft ${[...path, '--help'].join(' ')}'.`)
      }
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
}
