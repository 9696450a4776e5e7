// Process entry: runs the CLI. The only place that calls process.exit.
import { runMain } from 'citty'
import { rootCommand } from './cli/index.ts'

await runMain(rootCommand)
