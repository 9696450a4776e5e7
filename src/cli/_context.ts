// What every command receives: where the agent is, and where output goes. Built once by
// runCli (run.ts) and passed to the command's run(), so nothing is global.
import { apiTarget, createClient, type ApiClient } from './client.ts'

export interface CliIo {
  out(text: string): void
  err(text: string): void
  /** True when stdout is a terminal (stats --watch redraws in place). */
  isTty: boolean
  /** Print `prompt` (no newline) and read one line of stdin; undefined at end of input. */
  ask?(prompt: string): string | undefined
}

export interface CliContext extends CliIo {
  /** -H/--host as given (else WEFT_HOST, else the default socket). */
  host?: string
  env: Record<string, string | undefined>
  client(): ApiClient
  /** As CliIo.ask; without a stdin (tests' in-process io) the answer is "no". */
  ask(prompt: string): string | undefined
}

export function createContext(
  host: string | undefined,
  io: CliIo,
  env: Record<string, string | undefined> = process.env,
): CliContext {
  let c: ApiClient | undefined
  return {
    out: io.out,
    err: io.err,
    // a getter, not a copy: reading it builds process.stdout (see stdio.ts)
    get isTty() {
      return io.isTty
    },
    ask: (prompt) => io.ask?.(prompt),
    host,
    env,
    client: () => (c ??= createClient(apiTarget(host, env), io.err)),
  }
}
