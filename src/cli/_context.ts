// What every command receives: where the agent is, and where output goes. Built once by
// runCli (run.ts) and closed over by the command factories, so nothing is global.
import type { ArgsDef, CommandDef, ParsedArgs } from 'citty'
import { defineCommand } from 'citty'
import { checkArgs } from './_args.ts'
import { apiTarget, createClient, type ApiClient } from './client.ts'

export interface CliIo {
  out(text: string): void
  err(text: string): void
  /** True when stdout is a terminal (stats --watch redraws in place). */
  isTty: boolean
}

export interface CliContext extends CliIo {
  /** -H/--host as given (else WEFT_HOST, else the default socket). */
  host?: string
  env: Record<string, string | undefined>
  client(): ApiClient
}

export function createContext(host: string | undefined, io: CliIo, env = process.env): CliContext {
  let c: ApiClient | undefined
  return {
    ...io,
    host,
    env,
    client: () => (c ??= createClient(apiTarget(host, env))),
  }
}

export interface LeafSpec<A extends ArgsDef> {
  /** Command path after "weft", e.g. "network create". */
  path: string
  description: string
  /** Other names, e.g. ["list"] for "ls". */
  alias?: string[]
  args: A
  positionals: { min: number; max: number; usage: string }
  run(input: { args: ParsedArgs<A>; rawArgs: string[]; positionals: string[] }): Promise<void> | void
}

/** A leaf command: checks flags and positional count strictly before running. */
export function leaf<A extends ArgsDef>(spec: LeafSpec<A>): CommandDef<A> {
  return defineCommand({
    meta: { name: spec.path.split(' ').pop(), description: spec.description, ...(spec.alias ? { alias: spec.alias } : {}) },
    args: spec.args,
    async run({ args, rawArgs }) {
      const positionals = checkArgs(rawArgs, spec.args, spec.positionals, spec.path)
      await spec.run({ args, rawArgs, positionals })
    },
  })
}
