// Logs a person can read (issue 12 item 6): --log-format text turns pino's JSON lines into one
// readable line each; json stays the default where stderr is not a terminal. No root.
import { describe, expect, test } from 'bun:test'
import { parseAgentConfig } from '../../src/agent/config.ts'
import { defaultLogFormat, formatLogLine } from '../../src/log.ts'
import { judgeNode } from '../../src/doctor/index.ts'

describe('log format', () => {
  test('a pino line reads as time, level, node, message, then the fields', () => {
    const line = JSON.stringify({
      level: 40,
      time: Date.UTC(2026, 11, 1, 8, 31, 2, 123),
      pid: 1,
      hostname: 'h',
      node: 'n1',
      kind: 'veth',
      item: 'local wf0a1b2c3d4e',
      msg: 'drift: gone; putting it back',
    })
    expect(formatLogLine(line)).toBe(
      '08:31:02.123 WARN  n1: drift: gone; putting it back  kind=veth item="local wf0a1b2c3d4e"',
    )
  })

  test('objects in fields are JSON; a line that is not JSON passes through', () => {
    expect(formatLogLine(JSON.stringify({ level: 30, time: 0, msg: 'x', o: { a: 1 } }))).toBe(
      '00:00:00.000 INFO  x  o="{\\"a\\":1}"',
    )
    expect(formatLogLine('plain words\n')).toBe('plain words')
  })

  test('text on a terminal, json elsewhere, WEFT_LOG_FORMAT wins', () => {
    expect(defaultLogFormat({}, true)).toBe('text')
    expect(defaultLogFormat({}, false)).toBe('json')
    expect(defaultLogFormat({ WEFT_LOG_FORMAT: 'json' }, true)).toBe('json')
  })

  test('--log-format is checked: text and json pass, anything else is refused', async () => {
    const base = { name: 'n1', advertise: '127.0.0.1', store: 'embedded' }
    expect((await parseAgentConfig({ ...base, 'log-format': 'text' }, {})).logFormat).toBe('text')
    await expect(parseAgentConfig({ ...base, 'log-format': 'pretty' }, {})).rejects.toThrow(
      '--log-format "pretty" must be json or text',
    )
  })
})

describe('node state', () => {
  const now = 1_000_000
  test('Ready or Down while the store answers', () => {
    expect(
      judgeNode(true, { reachable: true, lastAnswerAt: now, unreachableSince: 0 }, now),
    ).toEqual({ state: 'Ready' })
    expect(
      judgeNode(false, { reachable: true, lastAnswerAt: now, unreachableSince: 0 }, now).state,
    ).toBe('Down')
  })
  test('Unknown while it does not, with how long and the last word', () => {
    expect(
      judgeNode(
        true,
        { reachable: false, lastAnswerAt: now - 30_000, unreachableSince: now - 12_000 },
        now,
      ),
    ).toEqual({
      state: 'Unknown',
      reason: 'the store has not answered for 12 s; it was alive at the last contact, 30 s ago',
    })
    expect(
      judgeNode(true, { reachable: false, lastAnswerAt: 0, unreachableSince: 0 }, now).reason,
    ).toBe('the store has not answered since this agent started')
  })
})
