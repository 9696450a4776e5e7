// The functions a --format template can call: Go's builtins (and, or, not, len, index,
// slice, eq…ge, print, printf, println) and the ones Docker adds (json, join, split, lower,
// upper, title, pad, truncate).
import { TemplateError } from './errors.ts'
import { goJson, isMap, show, truthy, typeName } from './values.ts'

export type TemplateFunc = (...args: unknown[]) => unknown

function arity(name: string, args: unknown[], min: number, max = min): void {
  if (args.length < min || args.length > max) {
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`
    throw new TemplateError(`wrong number of args for ${name}: want ${want} got ${args.length}`)
  }
}

const str = (name: string, v: unknown): string => {
  if (typeof v !== 'string')
    throw new TemplateError(`${name}: expected a string, got ${typeName(v)} ${show(v)}`)
  return v
}

const int = (name: string, v: unknown): number => {
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw new TemplateError(`${name}: expected an integer, got ${typeName(v)} ${show(v)}`)
  return v
}

function index(item: unknown, ...keys: unknown[]): unknown {
  let v = item
  for (const k of keys) {
    if (Array.isArray(v) || typeof v === 'string') {
      const n = int('index', k)
      if (n < 0 || n >= v.length)
        throw new TemplateError(`error calling index: index out of range: ${n}`)
      v = typeof v === 'string' ? v.charCodeAt(n) : v[n]
    } else if (isMap(v)) {
      v = Object.prototype.hasOwnProperty.call(v, String(k)) ? v[String(k)] : undefined
    } else if (v === undefined || v === null) {
      throw new TemplateError('error calling index: index of untyped nil')
    } else {
      throw new TemplateError(`error calling index: can't index item of type ${typeName(v)}`)
    }
  }
  return v
}

function compare(name: string, a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0
  throw new TemplateError(
    `error calling ${name}: incompatible types for comparison (${typeName(a)} and ${typeName(b)})`,
  )
}

const basic = (v: unknown) =>
  v === undefined || v === null || ['string', 'number', 'boolean'].includes(typeof v)

function equal(a: unknown, b: unknown): boolean {
  if (!basic(a) || !basic(b))
    throw new TemplateError(
      `error calling eq: can only compare basic types (${typeName(a)}, ${typeName(b)})`,
    )
  if (typeof a !== typeof b && a != null && b != null) {
    throw new TemplateError(
      `error calling eq: incompatible types for comparison (${typeName(a)} and ${typeName(b)})`,
    )
  }
  return a === b || (a == null && b == null)
}

/** Go's Sprint: a space between two operands when neither is a string. */
function sprint(args: unknown[]): string {
  let out = ''
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') out += ' '
    out += show(a)
  })
  return out
}

/** Go's Sprintf for the verbs people use: %s %v %d %q %t %f (with width/flags) and %%. */
function sprintf(format: string, args: unknown[]): string {
  let n = 0
  const out = format.replace(
    /%([-+ 0#]*)(\d+)?(?:\.(\d+))?([svdqtfxX%])/g,
    (_, flags: string, width: string | undefined, prec: string | undefined, verb: string) => {
      if (verb === '%') return '%'
      if (n >= args.length) return `%!${verb}(MISSING)`
      const a = args[n++]
      let s: string
      switch (verb) {
        case 'd':
          s = typeof a === 'number' ? String(Math.trunc(a)) : `%!d(${typeName(a)}=${show(a)})`
          break
        case 'f':
          s =
            typeof a === 'number'
              ? a.toFixed(prec === undefined ? 6 : Number(prec))
              : `%!f(${typeName(a)}=${show(a)})`
          break
        case 'x':
        case 'X':
          s = typeof a === 'number' ? a.toString(16) : Buffer.from(show(a)).toString('hex')
          if (verb === 'X') s = s.toUpperCase()
          break
        case 'q':
          s = JSON.stringify(show(a))
          break
        default:
          s = show(a)
          if (prec !== undefined && verb === 's') s = s.slice(0, Number(prec))
      }
      const w = width === undefined ? 0 : Number(width)
      return flags.includes('-')
        ? s.padEnd(w)
        : s.padStart(w, flags.includes('0') && verb !== 's' ? '0' : ' ')
    },
  )
  return n < args.length
    ? `${out}%!(EXTRA ${args
        .slice(n)
        .map((a) => `${typeName(a)}=${show(a)}`)
        .join(', ')})`
    : out
}

export const FUNCS: Record<string, TemplateFunc> = {
  and: (...a) => (arity('and', a, 1, Infinity), a.find((x) => !truthy(x)) ?? a[a.length - 1]),
  or: (...a) => (arity('or', a, 1, Infinity), a.find((x) => truthy(x)) ?? a[a.length - 1]),
  not: (...a) => (arity('not', a, 1), !truthy(a[0])),
  len: (...a) => {
    arity('len', a, 1)
    const v = a[0]
    if (typeof v === 'string' || Array.isArray(v)) return v.length
    if (isMap(v)) return Object.keys(v).length
    throw new TemplateError(`error calling len: len of type ${typeName(v)}`)
  },
  index: (...a) => (arity('index', a, 1, Infinity), index(a[0], ...a.slice(1))),
  slice: (...a) => {
    arity('slice', a, 1, 3)
    const v = a[0]
    if (typeof v !== 'string' && !Array.isArray(v))
      throw new TemplateError(`error calling slice: can't slice item of type ${typeName(v)}`)
    const from = a[1] === undefined ? 0 : int('slice', a[1])
    const to = a[2] === undefined ? v.length : int('slice', a[2])
    if (from < 0 || to > v.length || from > to)
      throw new TemplateError(`error calling slice: index out of range: ${from}:${to}`)
    return v.slice(from, to)
  },
  eq: (...a) => (arity('eq', a, 2, Infinity), a.slice(1).some((b) => equal(a[0], b))),
  ne: (...a) => (arity('ne', a, 2), !equal(a[0], a[1])),
  lt: (...a) => (arity('lt', a, 2), compare('lt', a[0], a[1]) < 0),
  le: (...a) => (arity('le', a, 2), compare('le', a[0], a[1]) <= 0),
  gt: (...a) => (arity('gt', a, 2), compare('gt', a[0], a[1]) > 0),
  ge: (...a) => (arity('ge', a, 2), compare('ge', a[0], a[1]) >= 0),
  print: (...a) => sprint(a),
  println: (...a) => `${a.map((x) => show(x)).join(' ')}\n`,
  printf: (...a) => (arity('printf', a, 1, Infinity), sprintf(str('printf', a[0]), a.slice(1))),
  // Docker's additions (cli/templates): json without a trailing newline
  json: (...a) => (arity('json', a, 1), goJson(a[0])),
  join: (...a) => {
    arity('join', a, 2)
    if (!Array.isArray(a[0]))
      throw new TemplateError(`error calling join: expected a list, got ${typeName(a[0])}`)
    return a[0].map((x) => show(x)).join(str('join', a[1]))
  },
  split: (...a) => (arity('split', a, 2), str('split', a[0]).split(str('split', a[1]))),
  lower: (...a) => (arity('lower', a, 1), str('lower', a[0]).toLowerCase()),
  upper: (...a) => (arity('upper', a, 1), str('upper', a[0]).toUpperCase()),
  title: (...a) => (
    arity('title', a, 1),
    str('title', a[0]).replace(/\b\w/g, (c) => c.toUpperCase())
  ),
  pad: (...a) => (
    arity('pad', a, 3),
    `${' '.repeat(int('pad', a[1]))}${show(a[0])}${' '.repeat(int('pad', a[2]))}`
  ),
  truncate: (...a) => {
    arity('truncate', a, 2)
    const s = show(a[0])
    const n = int('truncate', a[1])
    return s.length > n ? s.slice(0, n) : s
  },
}
