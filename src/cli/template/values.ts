// How JSON values look through Go's eyes: a Go struct (fixed fields, `{a b}` when printed,
// a missing field is an error) or a map (`map[k:v]`, a missing key is "<no value>"); what
// is "true" for if/with; and fmt's %v printing.
import { TemplateError } from './errors.ts'

const structs = new WeakSet<object>()

/** Mark `obj` as a Go struct: printed {v1 v2}, and a field it lacks is an error. */
export function goStruct<T extends object>(obj: T): T {
  structs.add(obj)
  return obj
}

export const isStruct = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && structs.has(v)

export const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !structs.has(v)

/** The value of field `name` of `v` (a struct's field, a map's key, an object's method). */
export function field(v: unknown, name: string, where: string): unknown {
  if (v === undefined || v === null) {
    throw new TemplateError(`${where}: nil pointer evaluating .${name}`)
  }
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw new TemplateError(`${where}: can't evaluate field ${name} in type ${typeName(v)}`)
  }
  const rec = v as Record<string, unknown>
  if (Object.prototype.hasOwnProperty.call(rec, name)) return rec[name]
  if (isStruct(v)) {
    const fields = Object.keys(rec).join(', ')
    throw new TemplateError(`${where}: can't evaluate field ${name} (the fields are: ${fields})`)
  }
  return undefined // a map without that key: Go's zero value, printed "<no value>"
}

export function typeName(v: unknown): string {
  if (v === undefined || v === null) return 'nil'
  if (Array.isArray(v)) return 'slice'
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64'
  if (typeof v === 'boolean') return 'bool'
  if (typeof v === 'function') return 'func'
  if (typeof v === 'object') return isStruct(v) ? 'struct' : 'map'
  return typeof v
}

/** Go's truth for if/with/and/or: false, 0, "", nil and empty slices/maps are false. */
export function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false
  if (Array.isArray(v)) return v.length > 0
  if (typeof v === 'object') return isStruct(v) || Object.keys(v).length > 0
  return true
}

/** fmt's %v: strings as they are, slices [a b], structs {a b}, maps map[k:v] (keys sorted). */
export function show(v: unknown, top = true): string {
  if (v === undefined) return top ? '<no value>' : '<nil>'
  if (v === null) return '<nil>'
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v)
  if (typeof v === 'function') throw new TemplateError('a method needs to be called, not printed')
  if (Array.isArray(v)) return `[${v.map((x) => show(x, false)).join(' ')}]`
  const rec = v as Record<string, unknown>
  if (isStruct(v))
    return `{${Object.values(rec)
      .map((x) => show(x, false))
      .join(' ')}}`
  const keys = Object.keys(rec).sort()
  return `map[${keys.map((k) => `${k}:${show(rec[k], false)}`).join(' ')}]`
}

/** encoding/json's view: map keys sorted, struct fields in order; undefined as null. */
export function goJson(v: unknown): string {
  return JSON.stringify(v ?? null, function (this: unknown, _k, x: unknown) {
    if (isMap(x) && !Array.isArray(x)) {
      const sorted: Record<string, unknown> = {}
      for (const k of Object.keys(x).sort()) sorted[k] = x[k]
      return sorted
    }
    return x === undefined ? null : x
  })
}
