// Write bench/SIM-REPORT.md (and the JSON and SVG) again from a simulator results file, e.g.
// after a change of the report's text: bun bench/sim/regenerate.ts bench/results/sim-DATE.json
import { readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { writeSimReport, type SimResult } from './report.ts'

const [file] = process.argv.slice(2)
if (!file) throw new Error('usage: bun bench/sim/regenerate.ts RESULTS.json')
const r = JSON.parse(readFileSync(file, 'utf8')) as {
  date: string
  commit: string
  argv: string[]
  results: SimResult[]
}
await writeSimReport(r.results, {
  out: dirname(file),
  argv: r.argv,
  commit: r.commit,
  date: r.date,
})
