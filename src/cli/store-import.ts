// `weft store import [FILE|-]`: write a `weft store export` document into a store. Refused
// (nothing written) when the store already holds cluster records, unless --force. Node records
// are imported on a grace lease until their agents re-register (see src/store/export.ts). The
// import starts a new store incarnation (src/store/incarnation.ts).
import { readFileSync } from 'node:fs'
import { isatty } from 'node:tty'
import { ValidationError } from '../errors/index.ts'
import { parseDurationMs } from '../util/duration.ts'
import type { CliContext } from './_context.ts'
import { importStore, parseStoreExport } from '../store/export.ts'
import { openStoreFromFlags } from './store-access.ts'
import type { RunInput } from './spec.ts'

/** Grace of imported node records: 1 s .. 1 h (Consul sessions cap at 24 h; etcd at ~9 000 years). */
const GRACE_MIN_MS = 1000
const GRACE_MAX_MS = 3_600_000

function readDocument(source: string): string {
  if (source === '-') {
    if (isatty(0))
      throw new ValidationError(
        'weft store import reads the export from stdin, which is a terminal: give FILE, or pipe it (weft store export … | weft store import …)',
      )
    return readFileSync(0, 'utf8')
  }
  try {
    return readFileSync(source, 'utf8')
  } catch (e) {
    throw new ValidationError(
      `${source}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    )
  }
}

export async function run(ctx: CliContext, { flags, positionals }: RunInput): Promise<void> {
  const graceText = typeof flags['node-grace'] === 'string' ? flags['node-grace'] : '60s'
  const graceMs = parseDurationMs(graceText)
  if (graceMs === undefined || graceMs < GRACE_MIN_MS || graceMs > GRACE_MAX_MS)
    throw new ValidationError(`--node-grace "${graceText}" must be a duration between 1s and 1h`)
  const source = positionals[0] ?? '-'
  // the document is checked whole before the store is even contacted
  const doc = parseStoreExport(readDocument(source), source === '-' ? 'stdin' : source)
  const opened = await openStoreFromFlags(flags, ctx.env, { forImport: true })
  for (const w of opened.warnings) ctx.err(`Warning: ${w}`)
  try {
    const r = await importStore(opened.store, doc, {
      force: flags.force === true,
      nodeGraceMs: graceMs,
    })
    ctx.err(
      `imported ${r.written} keys into ${opened.store.address}` +
        (r.deleted
          ? ` (replaced: ${r.deleted} keys it held that the export has not were deleted)`
          : '') +
        (r.nodesOnGrace.length
          ? `; node records ${r.nodesOnGrace.join(', ')} held alive for ${graceText} until their agents re-register: restart each agent with the new --store within that`
          : '') +
        (r.nodesLive.length ? `; already live there: ${r.nodesLive.join(', ')}` : '') +
        // a restore is a new incarnation of the store (src/store/incarnation.ts)
        '; a new store incarnation: each agent writes back at its restart the endpoints it has that the export lacks',
    )
  } finally {
    await opened.close()
  }
}
