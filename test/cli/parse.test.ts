// The CLI's pure parts, in-process and without root: the command table, strict parsing with
// "did you mean", Docker-style help, and runCli's exit codes for usage errors.
import { describe, expect, test } from 'bun:test'
import { AGENT_DEFAULTS } from '../../src/agent/config.ts'
import { UsageError } from '../../src/cli/_errors.ts'
import { ROOT } from '../../src/cli/commands.ts'
import { commandHelp, groupHelp } from '../../src/cli/help.ts'
import { parseCommandLine } from '../../src/cli/parse.ts'
import { resolveCommand, runCli } from '../../src/cli/run.ts'
import type { CommandNode, LeafCommand } from '../../src/cli/spec.ts'
import { closest } from '../../src/cli/suggest.ts'

const leaf = (path: string): LeafCommand => {
  const r = resolveCommand(path.split(' '))
  if (r.node.kind !== 'command') throw new Error(`${path} is a group`)
  return r.node
}

const usageError = (fn: () => unknown): UsageError => {
  try {
    fn()
  } catch (e) {
    if (e instanceof UsageError) return e
    throw e
  }
  throw new Error('expected a UsageError')
}

/** runCli with output captured. */
async function cli(args: string[], env: Record<string, string | undefined> = {}) {
  const out: string[] = []
  const err: string[] = []
  const code = await runCli(
    args,
    { out: (t) => void out.push(t), err: (t) => void err.push(t), isTty: false },
    env,
  )
  return { code, stdout: out.join('\n'), stderr: err.join('\n') }
}

function* leaves(node: CommandNode, path: string[] = []): Generator<[string, LeafCommand]> {
  if (node.kind === 'command') yield [path.join(' '), node]
  else for (const c of node.commands) yield* leaves(c, [...path, c.name])
}

describe('strict flags and arguments', () => {
  test('an unknown flag is refused with the flag that was meant', () => {
    expect(
      usageError(() => parseCommandLine(leaf('agent'), 'agent', ['--node', 'x'])).message,
    ).toBe('unknown flag: --node (did you mean --name?)')
    expect(
      usageError(() => parseCommandLine(leaf('agent'), 'agent', ['--store-tokn', 's3cret']))
        .message,
    ).toBe('unknown flag: --store-tokn (did you mean --store-token?)')
    expect(
      usageError(() => parseCommandLine(leaf('network ls'), 'network ls', ['--bogus'])).message,
    ).toBe('unknown flag: --bogus')
  })

  test('every command refuses unknown flags and stray arguments', () => {
    for (const [path, cmd] of leaves(ROOT)) {
      const flag = usageError(() => parseCommandLine(cmd, path, ['--frobnicate-the-thing']))
      expect(flag.message).toStartWith('unknown flag: --frobnicate-the-thing')
      expect(flag.command).toBe(path)
      if (cmd.positionals.max !== Infinity) {
        const args = Array.from({ length: cmd.positionals.max + 1 }, (_, i) => `a${i}`)
        expect(usageError(() => parseCommandLine(cmd, path, args)).message).toContain(
          `"weft ${path}" ${cmd.positionals.max === 0 ? 'takes no arguments' : 'takes at most'}`,
        )
      }
    }
  })

  test('missing arguments name the usage line', () => {
    expect(
      usageError(() => parseCommandLine(leaf('network connect'), 'network connect', ['blue']))
        .message,
    ).toBe(
      '"weft network connect" requires exactly 2 arguments: weft network connect [OPTIONS] NETWORK SANDBOX',
    )
  })

  test('a string flag needs its value, a switch takes none', () => {
    expect(
      usageError(() => parseCommandLine(leaf('network create'), 'network create', ['--label']))
        .message,
    ).toBe('flag needs an argument: --label')
    expect(
      usageError(() =>
        parseCommandLine(leaf('network create'), 'network create', ['--subnet', '--vni', '7', 'x']),
      ).message,
    ).toStartWith('flag needs an argument: --subnet')
    expect(
      usageError(() => parseCommandLine(leaf('network ls'), 'network ls', ['--quiet=yes'])).message,
    ).toBe('flag --quiet is a switch and takes no value')
  })

  test('repeatable flags keep every value in order; defaults are applied; -- ends the flags', () => {
    const r = parseCommandLine(leaf('network create'), 'network create', [
      '--label',
      'a=1',
      '--label=b=2',
      '-o',
      'x=1',
      '--',
      '-blue',
    ])
    expect(r.flags.label).toEqual(['a=1', 'b=2'])
    expect(r.flags.opt).toEqual(['x=1'])
    expect(r.flags.driver).toBe('overlay')
    expect(r.positionals).toEqual(['-blue'])
  })

  test('unknown commands suggest the nearest one', () => {
    expect(usageError(() => resolveCommand(['netwrk', 'ls'])).message).toBe(
      'unknown command "netwrk" for "weft" (did you mean "network"?)',
    )
    expect(usageError(() => resolveCommand(['network', 'lss'])).message).toBe(
      'unknown command "lss" for "weft network" (did you mean "ls"?)',
    )
    expect(closest('zzzzzz', ['network', 'node'])).toBeUndefined()
  })

  test('runCli: usage errors exit 2 with the hint; groups alone print their commands and exit 0', async () => {
    const bad = await cli(['agent', '--node', 'x'])
    expect(bad).toEqual({
      code: 2,
      stdout: '',
      stderr: "Error: unknown flag: --node (did you mean --name?)\nSee 'weft agent --help'.",
    })
    const net = await cli(['network'])
    expect(net.code).toBe(0)
    expect(net.stdout).toStartWith('Usage:  weft network COMMAND\n')
    for (const c of ['connect', 'create', 'disconnect', 'inspect', 'ls', 'rm'])
      expect(net.stdout).toMatch(new RegExp(`^  ${c} +\\S`, 'm'))
    expect((await cli([])).stdout).toStartWith('Usage:  weft [OPTIONS] COMMAND\n')
    expect((await cli(['network', '--bogus'])).code).toBe(2)
  })
})

describe('help reads like Docker', () => {
  test('usage lines start with weft and show the required arguments', () => {
    expect(commandHelp('network connect', leaf('network connect'))).toStartWith(
      'Usage:  weft network connect [OPTIONS] NETWORK SANDBOX\n',
    )
    expect(commandHelp('network rm', leaf('network rm'))).toStartWith(
      'Usage:  weft network rm NETWORK [NETWORK...]\n',
    )
    expect(commandHelp('network ls', leaf('network ls'))).toContain('  -q, --quiet ')
  })

  test('agent help prints the defaults of src/agent/config.ts', () => {
    const help = commandHelp('agent', leaf('agent'))
    expect(help).toContain(`(default "${AGENT_DEFAULTS.api}")`)
    expect(help).toContain(`(default "${AGENT_DEFAULTS.data}")`)
    expect(help).toContain(`(default "${AGENT_DEFAULTS.ttl}")`)
    expect(help).toContain(`(default "${AGENT_DEFAULTS.datapath}")`)
    expect(help).toContain(`(default ADVERTISE:${AGENT_DEFAULTS.kvPort})`)
    expect(help).toMatch(/--advertise addr +.*\(required\)/)
    expect(help).toMatch(/--token-file path/)
    expect(help).toContain('shows in `ps`')
  })

  test('the root help lists management commands and commands', () => {
    const help = groupHelp('', ROOT, { summary: 'x', globalFlags: {} })
    expect(help).toMatch(/Management Commands:\n {2}network +Manage overlay networks\n {2}node +/)
    expect(help).toMatch(/Commands:\n {2}agent /)
  })
})
