// Command-line helpers: KEY=VALUE flags, and the global -H/--host flag, which may appear
// anywhere before "--" (Docker allows it before the command; we accept it anywhere).
import { UsageError } from './_errors.ts'
import type { FlagValues } from './spec.ts'

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
      if (v === undefined || v.startsWith('-'))
        throw new UsageError(`flag needs an argument: ${a} (unix:///PATH or tcp://HOST:PORT)`)
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

/** Typed reads of parsed flag values (see parse.ts). */
export const flagString = (flags: FlagValues, name: string): string | undefined => {
  const v = flags[name]
  return typeof v === 'string' ? v : undefined
}
export const flagBool = (flags: FlagValues, name: string): boolean => flags[name] === true
export const flagList = (flags: FlagValues, name: string): string[] => {
  const v = flags[name]
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : []
}
