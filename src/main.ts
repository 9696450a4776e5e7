// Process entry: runs the CLI. The only place that calls process.exit
// (0 ok, 1 an operation failed, 2 bad usage). Imports run.ts directly, not the CLI's index:
// start-up evaluates only the command table, and each command loads its own code.
import { runCli } from './cli/run.ts'

process.exit(await runCli(process.argv.slice(2)))
