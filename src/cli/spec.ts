// The shape of the command table (commands.ts): what each command accepts, how its help
// reads, and how to load its code. Pure data: the table must not pull in what the commands
// use (the agent, libSQL, libbpf), so each command's code is loaded only when it runs.
import type { CliContext } from './_context.ts'

export interface FlagSpec {
  type: 'string' | 'boolean'
  /** One-letter form, e.g. "q" for -q. */
  short?: string
  description: string
  /** May be given more than once (values collected in order). */
  multiple?: boolean
  /** Applied when the flag is absent, and shown in help as (default "…"). */
  default?: string
  /** Shown in help as (default …) but not applied: the command works it out (e.g. "hostname"). */
  defaultNote?: string
  /** Word for the value in help (default "string"). */
  valueName?: string
  /** Shown in help as "(required)"; checked by the command itself (its error says why). */
  required?: boolean
}

export type FlagValues = Record<string, string | boolean | string[] | undefined>

export interface RunInput {
  /** Flag values by long name; repeatable flags are string[]. */
  flags: FlagValues
  positionals: string[]
}

export interface CommandModule {
  run(ctx: CliContext, input: RunInput): Promise<void> | void
}

export interface LeafCommand {
  kind: 'command'
  name: string
  aliases?: string[]
  /** One line, for the parent's command list and the help. */
  summary: string
  /** What follows "[OPTIONS]" in the usage line, e.g. "NETWORK SANDBOX". */
  args?: string
  positionals: { min: number; max: number }
  flags: Record<string, FlagSpec>
  /** Extra help text after the options (examples, notes). */
  notes?: string
  load(): Promise<CommandModule>
}

export interface CommandGroup {
  kind: 'group'
  name: string
  aliases?: string[]
  summary: string
  commands: (LeafCommand | CommandGroup)[]
}

export type CommandNode = LeafCommand | CommandGroup
