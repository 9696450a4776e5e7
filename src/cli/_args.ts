// Command-line helpers citty does not have: repeatable flags (citty keeps only the last
// value of a repeated string flag), strict flag checking (citty ignores unknown flags),
// and the global -H/--host flag, which may appear anywhere before "--".
import type { ArgsDef } from 'citty'
import { UsageError } from './_errors.ts'

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())

/** Every value given for a repeatable string flag, in order: `--label a=1 --label=b=2 -l c`. */
export function repeated(rawArgs: string[], name: string, alias?: string): string[] {
  const out: string[] = []
  const flags = [`--${name}`, ...(alias ? [alias.length === 1 ? `-${alias}` : `--${alias}`] : [])]
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i]!
    if (a === '--') break
    for (const f of flags) {
      if (a === f) {
        const v = rawArgs[i + 1]
        if (v === undefined) throw new UsageError(`flag needs an argument: ${f}`)
        out.push(v)
        i++
      } else if (a.startsWith(`${f}=`)) {
        out.push(a.slice(f.length + 1))
      }
    }
  }
  return out
}

/** Parse repeated KEY=VALUE flags into a map. */
export function keyValues(values: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const v of values) {
    const eq = v.indexOf('=')
    const k = eq < 0 ? v : v.slice(0, eq)
    if (!k) throw new UsageError(`--${flag} "${v}" must be KEY=VALUE`)
    // Docker accepts a bare key (empty value) for labels
    out[k] = eq < 0 ? '' : v.slice(eq + 1)
  }
  return out
}

/**
 * Reject flags the command does not define and string flags given without a value, and
 * check the number of positional arguments. `rawArgs` are the command's own arguments.
 */
export function checkArgs(
  rawArgs: string[],
  def: ArgsDef,
  positionals: { min: number; max: number; usage: string },
  command: string,
): string[] {
  const known = new Map<string, 'string' | 'boolean'>([['help', 'boolean'], ['h', 'boolean']])
  for (const [name, d] of Object.entries(def)) {
    if (d.type === 'positional') continue
    const kind = d.type === 'boolean' ? 'boolean' : 'string'
    const alias = (d as { alias?: string | string[] }).alias
    for (const n of [name, camel(name), ...(alias ? (Array.isArray(alias) ? alias : [alias]) : [])]) known.set(n, kind)
  }
  const pos: string[] = []
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i]!
    if (a === '--') {
      pos.push(...rawArgs.slice(i + 1))
      break
    }
    if (a.startsWith('-') && a !== '-') {
      const body = a.replace(/^--?/, '')
      const eq = body.indexOf('=')
      let name = eq < 0 ? body : body.slice(0, eq)
      if (name.startsWith('no-') && known.get(name.slice(3)) === 'boolean') name = name.slice(3)
      const kind = known.get(name)
      if (!kind) throw new UsageError(`unknown flag: ${a.split('=')[0]}`, command)
      if (kind === 'string' && eq < 0) {
        const v = rawArgs[i + 1]
        if (v === undefined) throw new UsageError(`flag needs an argument: ${a}`, command)
        i++
      }
      continue
    }
    pos.push(a)
  }
  if (pos.length < positionals.min) {
    throw new UsageError(`"weft ${command}" requires ${positionals.min === positionals.max ? 'exactly' : 'at least'} ${positionals.min} argument${positionals.min === 1 ? '' : 's'}: ${positionals.usage}`, command)
  }
  if (pos.length > positionals.max) {
    throw new UsageError(`"weft ${command}" takes at most ${positionals.max} argument${positionals.max === 1 ? '' : 's'} (got ${pos.join(' ')}): ${positionals.usage}`, command)
  }
  return pos
}

export interface GlobalFlags {
  host?: string
  /** argv without the global flags. */
  rest: string[]
}

/** Take -H/--host out of argv (Docker allows it before the command; we accept it anywhere). */
export function takeGlobalFlags(argv: string[]): GlobalFlags {
  const rest: string[] = []
  let host: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') {
      rest.push(...argv.slice(i))
      break
    }
    if (a === '-H' || a === '--host') {
      const v = argv[i + 1]
      if (v === undefined || v.startsWith('-')) throw new UsageError(`flag needs an argument: ${a} (unix:///PATH or tcp://HOST:PORT)`)
      host = v
      i++
    } else if (a.startsWith('--host=') || a.startsWith('-H=')) {
      host = a.slice(a.indexOf('=') + 1)
    } else {
      rest.push(a)
    }
  }
  return { host, rest }
}
