// Process entry: runs the CLI. The only place that calls process.exit
// (0 ok, 1 an operation failed, 2 bad usage).
import { runCli } from './cli/index.ts'

process.exit(await runCli(process.argv.slice(2)))
