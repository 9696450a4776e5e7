// --filter's pure parts (src/cli/_filters.ts), in-process: Docker's semantics on a list of
// networks (same key ORs, different keys AND, labels all), and the refusals.
import { describe, expect, test } from 'bun:test'
import { UsageError } from '../../src/cli/_errors.ts'
import { applyFilters, labelMatches, nameMatches, parseFilters } from '../../src/cli/_filters.ts'
import { NETWORK_FILTERS } from '../../src/cli/network-ls.ts'
import type { DockerNetwork } from '../../src/cli/_types.ts'

const net = (Name: string, Id: string, Labels: Record<string, string>) =>
  ({ Name, Id, Driver: 'overlay', Scope: 'global', Labels }) as unknown as DockerNetwork

const NETS = [
  net('blue', 'aa11', { team: 'red', tier: 'web' }),
  net('green', 'ab22', { team: 'blue' }),
  net('blueberry', 'cc33', {}),
]

const names = (...f: string[]) =>
  applyFilters(NETS, parseFilters(f, NETWORK_FILTERS, 'network ls'), NETWORK_FILTERS).map(
    (n) => n.Name,
  )

describe('network ls --filter', () => {
  test('name is found in the name (a regular expression), id is a prefix', () => {
    expect(names('name=blue')).toEqual(['blue', 'blueberry'])
    expect(names('name=^blue$')).toEqual(['blue'])
    expect(names('name=(')).toEqual([]) // not a regular expression: matches nothing, as Docker
    expect(names('id=a')).toEqual(['blue', 'green'])
    expect(names('id=AB2')).toEqual(['green'])
    expect(names('id=11')).toEqual([])
  })

  test('the same key ORs, different keys AND, label values all have to match', () => {
    expect(names('name=green', 'name=berry')).toEqual(['green', 'blueberry'])
    expect(names('name=blue', 'id=c')).toEqual(['blueberry'])
    expect(names('label=team')).toEqual(['blue', 'green'])
    expect(names('label=team=red', 'label=tier')).toEqual(['blue'])
    expect(names('label=team=red', 'label=team=blue')).toEqual([])
    expect(names('driver=overlay', 'scope=global', 'type=custom')).toEqual([
      'blue',
      'green',
      'blueberry',
    ])
    expect(names('type=builtin')).toEqual([])
  })

  test('refused: no "=", an unknown key, a bad type', () => {
    for (const f of ['name', '=x', 'colour=red', 'type=other']) {
      expect(() => parseFilters([f], NETWORK_FILTERS, 'network ls')).toThrow(UsageError)
    }
  })

  test('helpers', () => {
    expect(nameMatches('a.b', 'a.b')).toBe(true)
    expect(labelMatches({ k: '' }, 'k')).toBe(true)
    expect(labelMatches({ k: '' }, 'k=')).toBe(true)
    expect(labelMatches({ k: 'v' }, 'k=w')).toBe(false)
    expect(labelMatches({}, 'toString')).toBe(false)
  })
})
