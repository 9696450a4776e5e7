// Help texts laid out as Docker's (cobra's): "Usage:  weft … [OPTIONS] ARGS", the summary,
// then Options / Commands columns. Defaults come from the command table, written once.
import type { CommandGroup, FlagSpec, LeafCommand } from './spec.ts'

const HELP_FLAG: FlagSpec = { type: 'boolean', short: 'h', description: 'Print usage' }

export function usageLine(path: string, cmd: LeafCommand): string {
  return `weft ${path}${Object.keys(cmd.flags).length ? ' [OPTIONS]' : ''}${cmd.args ? ` ${cmd.args}` : ''}`
}

function flagDefault(f: FlagSpec): string {
  if (f.default !== undefined && f.type === 'string') return ` (default "${f.default}")`
  if (f.defaultNote !== undefined) return ` (default ${f.defaultNote})`
  return ''
}

/** Option rows: "  -q, --quiet           Only display network IDs". */
export function optionRows(flags: Record<string, FlagSpec>): string[] {
  const rows = Object.entries({ ...flags, help: HELP_FLAG })
    // plain code-unit order: localeCompare would start ICU's collator (~5 ms at every start)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, f]) => {
      const left = `${f.short ? `-${f.short}, ` : '    '}--${name}${f.type === 'string' ? ` ${f.valueName ?? (f.multiple ? 'list' : 'string')}` : ''}`
      const right = `${f.description}${f.required ? ' (required)' : ''}${flagDefault(f)}`
      return [left, right] as const
    })
  const width = Math.max(...rows.map(([l]) => l.length)) + 3
  return rows.map(([l, r]) => `  ${l.padEnd(width)}${r}`)
}

function commandRows(cmds: { name: string; summary: string }[]): string[] {
  const width = Math.max(10, ...cmds.map((c) => c.name.length + 2))
  return cmds.map((c) => `  ${c.name.padEnd(width)}${c.summary}`)
}

export function commandHelp(path: string, cmd: LeafCommand): string {
  const L = [`Usage:  ${usageLine(path, cmd)}`, '', cmd.summary, '']
  if (cmd.aliases?.length) {
    const parent = path.split(' ').slice(0, -1).join(' ')
    L.push(
      'Aliases:',
      `  ${[cmd.name, ...cmd.aliases].map((a) => `weft ${parent ? `${parent} ` : ''}${a}`).join(', ')}`,
      '',
    )
  }
  L.push('Options:', ...optionRows(cmd.flags))
  if (cmd.notes) L.push('', cmd.notes)
  return L.join('\n')
}

export interface RootHelpExtras {
  summary: string
  globalFlags: Record<string, FlagSpec>
}

export function groupHelp(path: string, group: CommandGroup, root?: RootHelpExtras): string {
  const prefix = path ? `weft ${path}` : 'weft'
  const L = [
    `Usage:  ${prefix}${root ? ' [OPTIONS]' : ''} COMMAND`,
    '',
    root?.summary ?? group.summary,
    '',
  ]
  if (root) L.push('Options:', ...optionRows(root.globalFlags), '')
  const groups = group.commands.filter((c) => c.kind === 'group')
  const leaves = group.commands.filter((c) => c.kind === 'command')
  if (groups.length) L.push('Management Commands:', ...commandRows(groups), '')
  if (leaves.length) L.push('Commands:', ...commandRows(leaves), '')
  L.push(`Run '${prefix} COMMAND --help' for more information on a command.`)
  return L.join('\n')
}
