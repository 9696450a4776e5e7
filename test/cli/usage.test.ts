// The built CLI (dist/weft) as a user meets it, without an agent: Docker-style help, strict
// flags on every command (exit 2, did you mean), Docker's daemon spellings refused or taken,
// and the completion scripts (bash: loaded and run; zsh: its content, zsh is not installed here).
import { describe, expect, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { WEFT } from '../agent/agents.ts'
import { weft } from './weft.ts'

describe('dist/weft usage', () => {
  test('the binary is built', () => {
    expect(existsSync(WEFT)).toBe(true)
  })

  test('`weft network` alone prints its commands and exits 0, as `docker network` does', async () => {
    const r = await weft(['network'])
    expect(r.code).toBe(0)
    expect(r.stdout).toStartWith(
      'Usage:  weft network COMMAND\n\nManage overlay networks\n\nCommands:\n  connect ',
    )
    expect(r.stdout).toContain(
      "Run 'weft network COMMAND --help' for more information on a command.",
    )
    expect((await weft(['node'])).stdout).toContain('\nCommands:\n  ls        List nodes\n')
  })

  test('usage lines start with weft and show required arguments', async () => {
    const r = await weft(['network', 'connect', '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout.split('\n')[0]).toBe('Usage:  weft network connect [OPTIONS] NETWORK SANDBOX')
    expect((await weft(['network', 'create', '-h'])).stdout.split('\n')[0]).toBe(
      'Usage:  weft network create [OPTIONS] NETWORK',
    )
    const agent = (await weft(['agent', '--help'])).stdout
    expect(agent).toMatch(
      /^ {6}--ttl duration +Node session TTL, 1s\.\.24h: .* \(default "10s"\)$/m,
    )
    expect(agent).toMatch(/^ {6}--cluster-store url +Docker daemon's name for --store$/m)
  })

  test('unknown flags and stray arguments exit 2 with a "did you mean" on every kind of command', async () => {
    const cases: [string[], string][] = [
      [['agent', '--node', 'x'], 'Error: unknown flag: --node (did you mean --name?)'],
      [
        ['agent', '--store-tokn', 's3cret'],
        'Error: unknown flag: --store-tokn (did you mean --store-token?)',
      ],
      [['agent', '--bogus'], 'Error: unknown flag: --bogus'],
      [['network', 'ls', '--bogus'], 'Error: unknown flag: --bogus'],
      [
        ['network', 'ls', 'stray'],
        'Error: "weft network ls" takes no arguments (unexpected: stray): weft network ls [OPTIONS]',
      ],
      [['version', '--frob'], 'Error: unknown flag: --frob'],
      [['stats', '--wacth'], 'Error: unknown flag: --wacth (did you mean --watch?)'],
      [['netwrk'], 'Error: unknown command "netwrk" for "weft" (did you mean "network"?)'],
      [
        ['agent', 'extra'],
        'Error: "weft agent" takes no arguments (unexpected: extra): weft agent [OPTIONS]',
      ],
    ]
    for (const [args, first] of cases) {
      const r = await weft(args)
      expect({ args, code: r.code, first: r.stderr.split('\n')[0] }).toEqual({
        args,
        code: 2,
        first,
      })
      expect(r.stderr.split('\n')[1]).toMatch(/^See 'weft .*--help'\.$/)
      expect(r.stdout).toBe('')
    }
  })

  test('agent flag values are checked before anything starts (exit 2, nothing created)', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['agent', '--advertise', '192.0.2.1', '--api', 'tcp://0.0.0.0:2375'],
        /^Error: --api tcp:\/\/0\.0\.0\.0:2375: --api is the admin API's unix socket; to serve it on TCP use --api-tcp/,
      ],
      [
        [
          'agent',
          '--advertise',
          '192.0.2.1',
          '--store',
          'embedded',
          '--cluster-store',
          'consul://192.0.2.2:8500',
        ],
        /^Error: --store and --cluster-store are the same flag/,
      ],
      [
        ['agent', '--advertise', '192.0.2.1', '--ttl', '2d'],
        /^Error: --ttl "2d" must be a duration/,
      ],
      [
        ['agent', '--advertise', '192.0.2.1', '--token', 'a', '--token-file', '/nonexistent'],
        /^Error: --token and --token-file do not go together/,
      ],
    ]
    for (const [args, re] of cases) {
      const r = await weft(args)
      expect({ args, code: r.code }).toEqual({ args, code: 2 })
      expect(r.stderr).toMatch(re)
    }
  })

  test('completion: the bash script loads and completes commands and flags', async () => {
    const script = (await weft(['completion', 'bash'])).stdout
    const probe = (line: string) =>
      `${script}\nCOMP_WORDS=(${line}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _weft; echo "\${COMPREPLY[*]}"`
    const run = async (line: string) => {
      const p = Bun.spawn(['bash', '--norc', '-c', probe(line)], { stdout: 'pipe', stderr: 'pipe' })
      const [out, err, code] = await Promise.all([
        new Response(p.stdout).text(),
        new Response(p.stderr).text(),
        p.exited,
      ])
      expect({ line, code, err }).toEqual({ line, code: 0, err: '' })
      return out.trim().split(' ')
    }
    expect(await run('weft net')).toEqual(['network'])
    expect((await run('weft network c')).sort()).toEqual(['connect', 'create'])
    expect(await run('weft -H unix:///x.sock network connect --ex')).toEqual(['--external'])
    expect(await run('weft agent --store-t')).toEqual(['--store-token', '--store-token-file'])
    expect((await weft(['completion', 'fish'])).code).toBe(2)
  })

  test('completion: the zsh script has an arm for every command path (zsh itself is not on the test hosts)', async () => {
    const script = (await weft(['completion', 'zsh'])).stdout
    expect(script).toStartWith('#compdef weft\n')
    expect(script).toContain('compdef _weft weft')
    expect(script).toContain(
      '"network connect") next=(--ip --ifname --external --mac --vtep --publish --name --alias --help) ;;',
    )
    expect(script).toContain(
      '"") next=(network node endpoint store agent completion demo doctor stats version --host --version --help) ;;',
    )
  })
})
