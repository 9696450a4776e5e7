// The CLI's public surface: runCli for src/main.ts, the client and the table formatters
// for `weft demo`.
export { runCli } from './run.ts'
export { UsageError, CliError } from './_errors.ts'
export { apiTarget, createClient, DEFAULT_HOST, type ApiClient, type ApiTarget } from './client.ts'
export { networkTable } from './network-ls.ts'
export { statsTable } from './stats.ts'
export { nodeTable } from './node-ls.ts'
export { sparkline, table, shortId } from './_format.ts'
