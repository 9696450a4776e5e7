// `weft store export`: every key under weft/v1/ of a store, as a versioned JSON document on
// stdout or in --output FILE (see src/store/export.ts), for `weft store import` into another.
import { renameSync, writeFileSync } from 'node:fs'
import type { CliContext } from './_context.ts'
import { exportStore, formatStoreExport } from '../store/export.ts'
import { openStoreFromFlags } from './store-access.ts'
import type { RunInput } from './spec.ts'

export async function run(ctx: CliContext, { flags }: RunInput): Promise<void> {
  const opened = await openStoreFromFlags(flags, ctx.env)
  for (const w of opened.warnings) ctx.err(`Warning: ${w}`)
  try {
    const doc = await exportStore(opened.store)
    const text = formatStoreExport(doc)
    const output = typeof flags.output === 'string' ? flags.output : '-'
    if (output === '-') ctx.out(text)
    else {
      // whole or not at all: a reader never sees half a document
      const tmp = `${output}.tmp-${process.pid}`
      writeFileSync(tmp, `${text}\n`, { mode: 0o600 })
      renameSync(tmp, output)
    }
    ctx.err(
      `exported ${doc.keys.length} keys and ${doc.nodes.length} node records from ${doc.source}${output === '-' ? '' : ` to ${output}`}`,
    )
  } finally {
    await opened.close()
  }
}
