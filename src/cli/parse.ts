// Strict parsing of one command's arguments with node:util parseArgs: an unknown flag, a
// flag without its value, a value given to a switch, or the wrong number of arguments is a
// UsageError (exit 2) that names the problem and, for a typo, the flag that was meant.
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { UsageError } from './_errors.ts'
import type { FlagValues, LeafCommand, RunInput } from './spec.ts'
import { closest } from './suggest.ts'

/** Every spelling of the command's flags, as typed: --name and -n. */
export function flagSpellings(cmd: LeafCommand): string[] {
  const out = ['--help', '-h']
  for (const [name, f] of Object.entries(cmd.flags))
    out.push(`--${name}`, ...(f.short ? [`-${f.short}`] : []))
  return out
}

function unknownFlag(raw: string, cmd: LeafCommand, path: string): UsageError {
  const flag = raw.startsWith('-') ? raw : `-${raw}`
  const guess = closest(
    flag,
    flagSpellings(cmd).filter((s) => s.startsWith('--')),
  )
  return new UsageError(`unknown flag: ${flag}${guess ? ` (did you mean ${guess}?)` : ''}`, path)
}

function translate(e: unknown, cmd: LeafCommand, path: string): unknown {
  const err = e as { code?: string; message?: string }
  const quoted = /'([^']+)'/.exec(err.message ?? '')?.[1] ?? ''
  const flag =
    quoted
      .split(/[ ,]/)
      .filter((w) => w.startsWith('--'))
      .pop() ??
    quoted.split(' ')[0] ??
    quoted
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return unknownFlag(quoted, cmd, path)
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    if (/does not take an argument/.test(err.message ?? ''))
      return new UsageError(`flag ${flag} is a switch and takes no value`, path)
    if (/ambiguous/.test(err.message ?? '')) {
      return new UsageError(
        `flag needs an argument: ${flag} (to give a value starting with "-", write ${flag}=-VALUE)`,
        path,
      )
    }
    return new UsageError(`flag needs an argument: ${flag}`, path)
  }
  return e
}

function count(n: number): string {
  return `${n} argument${n === 1 ? '' : 's'}`
}

export function parseCommandLine(cmd: LeafCommand, path: string, args: string[]): RunInput {
  const options: NonNullable<ParseArgsConfig['options']> = { help: { type: 'boolean', short: 'h' } }
  for (const [name, f] of Object.entries(cmd.flags)) {
    options[name] = {
      type: f.type,
      ...(f.short ? { short: f.short } : {}),
      ...(f.multiple ? { multiple: true } : {}),
    }
  }
  let parsed: { values: FlagValues; positionals: string[] }
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true }) as typeof parsed
  } catch (e) {
    throw translate(e, cmd, path)
  }
  const flags: FlagValues = { ...parsed.values }
  delete flags.help
  for (const [name, f] of Object.entries(cmd.flags))
    if (flags[name] === undefined && f.default !== undefined) flags[name] = f.default
  const pos = parsed.positionals
  const usage = `weft ${path}${Object.keys(cmd.flags).length ? ' [OPTIONS]' : ''}${cmd.args ? ` ${cmd.args}` : ''}`
  const { min, max } = cmd.positionals
  if (pos.length < min) {
    throw new UsageError(
      `"weft ${path}" requires ${min === max ? 'exactly' : 'at least'} ${count(min)}: ${usage}`,
      path,
    )
  }
  if (pos.length > max) {
    const extra = pos.slice(max).join(' ')
    const what = max === 0 ? 'takes no arguments' : `takes at most ${count(max)}`
    throw new UsageError(`"weft ${path}" ${what} (unexpected: ${extra}): ${usage}`, path)
  }
  return { flags, positionals: pos }
}
