// Re-render REPORT.md and the chart from a results JSON (after a change to the report code):
//   bun run bench/report.ts bench/results/<date>-<commit>.json [--report bench/REPORT.md]
// The figures are the JSON's; the report still names the command that measured them.
import { writeFileSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { renderChart, renderReport } from './lib/report.ts'
import { evaluateTargets } from './lib/targets.ts'
import type { BenchResult } from './lib/types.ts'

const { values, positionals } = parseArgs({
  args: Bun.argv.slice(2),
  allowPositionals: true,
  options: { report: { type: 'string' } },
})
const jsonPath = positionals[0]
if (!jsonPath) throw new Error('usage: bun run bench/report.ts <results.json> [--report PATH]')
const result = JSON.parse(readFileSync(jsonPath, 'utf8')) as BenchResult
result.targets = evaluateTargets(result)
writeFileSync(jsonPath, JSON.stringify(result, null, 2) + '\n')
const svgPath = jsonPath.replace(/\.json$/, '.svg')
const reportPath = values.report ?? join(import.meta.dir, 'REPORT.md')
writeFileSync(svgPath, renderChart(result))
const rel = (p: string) => relative(join(reportPath, '..'), p)
writeFileSync(
  reportPath,
  renderReport(result, {
    json: rel(jsonPath),
    svg: rel(svgPath),
    rendered: `bun run bench/report.ts ${jsonPath}`,
  }),
)
process.stderr.write(`wrote ${svgPath} and ${reportPath}\n`)
