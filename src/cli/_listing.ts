// --format for listings, as Docker reads it: "table" (the command's own table), "json"
// (`{{json .}}`, one object per line), a Go template printed once per row, or "table " + a
// template: a header row (each field's column title) and the rows, aligned like Docker's
// tabwriter. `\t` and `\n` typed literally in the format mean a tab and a newline.
import type { CliContext } from './_context.ts'
import { UsageError } from './_errors.ts'
import { compileTemplate, goStruct, TemplateError, type Template } from './template/index.ts'

export type ListFormat =
  { kind: 'table' } | { kind: 'json' } | { kind: 'template'; template: Template; table: boolean }

/** Read --format; a bad template is a usage error before anything is fetched. */
export function parseListFormat(format: string | undefined, command: string): ListFormat {
  const f = (format ?? 'table').trim()
  if (f === '' || f === 'table') return { kind: 'table' }
  if (f === 'json') return { kind: 'json' }
  const table = f.startsWith('table ') || f.startsWith('table\\t')
  const body = (table ? f.slice('table'.length).trim() : f)
    .replaceAll('\\t', '\t')
    .replaceAll('\\n', '\n')
  if (!body.includes('{{')) {
    throw new UsageError(
      `--format "${format}" is neither table, json nor a Go template: try --format '{{.Name}}' or --format 'table {{.ID}}\\t{{.Name}}'`,
      command,
    )
  }
  try {
    return { kind: 'template', template: compileTemplate(body), table }
  } catch (e) {
    throw templateUsage(e, command)
  }
}

function templateUsage(e: unknown, command: string): unknown {
  return e instanceof TemplateError ? new UsageError(`--format: ${e.message}`, command) : e
}

export interface Listing<R extends object> {
  rows: R[]
  /** The command's own table (--format table). */
  table: () => string
  /** Column titles by field name ("ID" -> "NETWORK ID"); others are the name in capitals. */
  headers: Record<string, string>
  /** A row of empty values: its fields title the header when there are no rows. */
  blank: R
}

/** Print `rows` as --format asks. Rows are Go-struct-like objects (see template/values.ts). */
export function printListing<R extends object>(
  ctx: CliContext,
  fmt: ListFormat,
  listing: Listing<R>,
  command: string,
): void {
  if (fmt.kind === 'table') {
    ctx.out(listing.table())
    return
  }
  if (fmt.kind === 'json') {
    for (const r of listing.rows) ctx.out(JSON.stringify(r))
    return
  }
  try {
    const rendered = listing.rows.map((r) => fmt.template.render(r))
    if (!fmt.table) {
      for (const line of rendered) ctx.out(line)
      return
    }
    const header = fmt.template.render(headerRow(listing.rows[0] ?? listing.blank, listing.headers))
    ctx.out(tabwrite([header, ...rendered].join('\n').split('\n')))
  } catch (e) {
    throw templateUsage(e, command)
  }
}

/** An object with the rows' fields whose values are the column titles. */
function headerRow(sample: object, headers: Record<string, string>): object {
  const row: Record<string, unknown> = {}
  for (const k of [...Object.keys(headers), ...Object.keys(sample)])
    row[k] = headers[k] ?? k.toUpperCase()
  // methods (e.g. .Label "k") answer with their own title
  for (const k of Object.getOwnPropertyNames(sample)) {
    const v = (sample as Record<string, unknown>)[k]
    if (typeof v === 'function') row[k] = () => headers[k] ?? k.toUpperCase()
  }
  return goStruct(row)
}

/** Go's tabwriter as Docker sets it up (minwidth 10, padding 3): tab-ended cells aligned. */
export function tabwrite(lines: string[]): string {
  const cells = lines.map((l) => l.split('\t'))
  const widths: number[] = []
  for (const row of cells) {
    row.forEach((c, i) => {
      if (i < row.length - 1) widths[i] = Math.max(widths[i] ?? 0, 10, c.length + 3)
    })
  }
  return cells
    .map((row) =>
      row
        .map((c, i) => (i < row.length - 1 ? c.padEnd(widths[i]!) : c))
        .join('')
        .trimEnd(),
    )
    .join('\n')
}

/** A method for template rows: defined, but not part of {{json .}} or printing. */
export function withMethod<R extends object>(
  row: R,
  name: string,
  fn: (...args: unknown[]) => unknown,
): R {
  Object.defineProperty(row, name, { value: fn, enumerable: false })
  return row
}
