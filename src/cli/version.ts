// `weft version`: the version, the git commit, the sha256 of each embedded BPF object, and
// the native libraries actually loaded (libbpf, libSQL), so an operator can tell exactly
// which datapath code a host runs and that the binary is self-contained.
import { createClient } from '@libsql/client'
import { flagString } from './_args.ts'
import type { CliContext } from './_context.ts'
import { UsageError } from './_errors.ts'
import type { RunInput } from './spec.ts'
import { bpfObjectBytes, bpfObjectNames, COMMIT, sha256, VERSION } from '../embedded/index.ts'
import { libbpfInfo } from '../sys/index.ts'

export interface VersionReport {
  version: string
  commit: string
  bpfObjects: { name: string; sha256: string }[]
  libbpf: { version: string; source: 'system' | 'embedded' }
  libsql: { sqlite: string }
}

async function libsqlVersion() {
  const db = createClient({ url: ':memory:' })
  try {
    const rs = await db.execute('select sqlite_version() as v')
    return { sqlite: String(rs.rows[0]?.v) }
  } finally {
    db.close()
  }
}

export async function versionReport(): Promise<VersionReport> {
  return {
    version: VERSION,
    commit: COMMIT,
    bpfObjects: bpfObjectNames().map((name) => ({ name, sha256: sha256(bpfObjectBytes(name)) })),
    libbpf: libbpfInfo(),
    libsql: await libsqlVersion(),
  }
}

export async function run(ctx: CliContext, { flags }: RunInput): Promise<void> {
  const format = flagString(flags, 'format')
  if (format !== 'text' && format !== 'json')
    throw new UsageError(`--format "${format}" is not supported: use text or json`, 'version')
  const report = await versionReport()
  if (format === 'json') {
    ctx.out(JSON.stringify(report, null, 2))
    return
  }
  ctx.out(`weft ${report.version} (commit ${report.commit})`)
  for (const o of report.bpfObjects) ctx.out(`  bpf     ${o.name}.o sha256:${o.sha256}`)
  ctx.out(`  libbpf  ${report.libbpf.version} (${report.libbpf.source})`)
  ctx.out(`  libsql  sqlite ${report.libsql.sqlite}`)
}
