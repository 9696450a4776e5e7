// --filter KEY=VALUE (repeatable), with Docker's semantics: values of one key OR (any may
// match), different keys AND; label filters all have to match (as Docker's MatchKVList).
// How each key matches is the command's: Docker's name is a regular expression searched in
// the name (so a plain word matches a part), id a prefix, driver/scope exact.
import { UsageError } from './_errors.ts'

export type Filters = Map<string, string[]>

export interface FilterKey<R> {
  match(row: R, value: string): boolean
  /** Every value must match (label), instead of any. */
  all?: boolean
  /** Check a value before anything is fetched; throw a UsageError naming what is allowed. */
  check?(value: string): void
}

export function parseFilters<R>(
  values: string[],
  keys: Record<string, FilterKey<R>>,
  command: string,
): Filters {
  const out: Filters = new Map()
  for (const v of values) {
    const eq = v.indexOf('=')
    if (eq <= 0) throw new UsageError(`bad format of filter "${v}" (expected name=value)`, command)
    const key = v.slice(0, eq).trim().toLowerCase()
    const value = v.slice(eq + 1)
    const spec = keys[key]
    if (!spec)
      throw new UsageError(`invalid filter '${key}': use ${Object.keys(keys).join(', ')}`, command)
    spec.check?.(value)
    out.set(key, [...(out.get(key) ?? []), value])
  }
  return out
}

export function applyFilters<R>(
  rows: R[],
  filters: Filters,
  keys: Record<string, FilterKey<R>>,
): R[] {
  return rows.filter((r) =>
    [...filters].every(([key, values]) => {
      const spec = keys[key]!
      return spec.all ? values.every((v) => spec.match(r, v)) : values.some((v) => spec.match(r, v))
    }),
  )
}

/** Docker's filters.Match: the whole value, or a regular expression found in it. */
export function nameMatches(name: string, pattern: string): boolean {
  if (name === pattern) return true
  try {
    return new RegExp(pattern).test(name)
  } catch {
    return false // Docker skips a pattern that is not a regular expression
  }
}

/** label=KEY or label=KEY=VALUE against a label map. */
export function labelMatches(labels: Record<string, string>, filter: string): boolean {
  const eq = filter.indexOf('=')
  const key = eq < 0 ? filter : filter.slice(0, eq)
  if (!Object.prototype.hasOwnProperty.call(labels, key)) return false
  return eq < 0 || labels[key] === filter.slice(eq + 1)
}
