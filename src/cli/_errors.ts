// Errors the CLI reports itself. Each carries the exit code main.ts ends with:
// 1 when an operation failed, 2 when the command line was wrong.

/** The command line is wrong (unknown flag, missing argument, bad flag value). Exit 2. */
export class UsageError extends Error {
  override name = 'UsageError'
  readonly exitCode: number = 2
  /** Command path for the "See 'weft … --help'" hint, e.g. "network create". */
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message)
  }
}

/** An operation failed (the agent refused it, or could not be reached). Exit 1. */
export class CliError extends Error {
  override name = 'CliError'
  readonly exitCode: number = 1
  constructor(
    message: string,
    /** The API's error code when the agent answered (e.g. "network_not_found"). */
    readonly code?: string,
    /** HTTP status when the agent answered. */
    readonly status?: number,
  ) {
    super(message)
  }
}
