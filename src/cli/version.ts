// `weft version`: the version, the git commit, the sha256 of each embedded BPF object, and
// the native libraries actually loaded (libbpf, libSQL), so an operator can tell exactly
// which datapath code a host runs and that the binary is self-contained.
import { defineCommand } from 'citty'
import { createClient } from '@libsql/client'
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

export const versionCommand = defineCommand({
  meta: { name: 'version', description: 'Show the version, git commit and embedded BPF object hashes' },
  args: {
    format: { type: 'string', description: 'Output format: text or json', default: 'text' },
  },
  async run({ args }) {
    const report = await versionReport()
    if (args.format === 'json') {
      console.log(JSON.stringify(report, null, 2))
      return
    }
    console.log(`weft ${report.version} (commit ${report.commit})`)
    for (const o of report.bpfObjects) console.log(`  bpf     ${o.name}.o sha256:${o.sha256}`)
    console.log(`  libbpf  ${report.libbpf.version} (${report.libbpf.source})`)
    console.log(`  libsql  sqlite ${report.libsql.sqlite}`)
  },
})
