// One structured logger (pino, JSON lines on stderr). Modules take it as a dependency.
import { writeSync } from 'node:fs'
import pino from 'pino'
import { defaultLogFormat, type LogFormat } from './util/log-format.ts'

export { defaultLogFormat, type LogFormat } from './util/log-format.ts'

export type Logger = pino.Logger

export function createLogger(opts: { level?: string; name?: string; format?: LogFormat } = {}): Logger {
  return pino(
    {
      level: opts.level ?? process.env.WEFT_LOG_LEVEL ?? 'info',
      base: opts.name ? { node: opts.name } : undefined,
    },
    (opts.format ?? defaultLogFormat()) === 'text' ? textLogStream() : pino.destination(2),
  )
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }

/**
 * One pino JSON line as a person reads it (pure):
 * `08:31:02.123 WARN  n1: drift: … kind=veth item="local wf0a1b2c3d4e"`.
 */
export function formatLogLine(line: string): string {
  let o: Record<string, unknown>
  try {
    o = JSON.parse(line)
  } catch {
    return line.trimEnd()
  }
  const { time, level, msg, node, pid: _pid, hostname: _host, ...rest } = o
  const t = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : ''
  const lvl = (LEVELS[level as number] ?? String(level)).padEnd(5)
  const fields = Object.entries(rest)
    .map(([k, v]) => {
      const s = typeof v === 'string' ? v : JSON.stringify(v)
      return `${k}=${/^[^\s"=]+$/.test(s) ? s : JSON.stringify(s)}`
    })
    .join(' ')
  return `${t} ${lvl} ${node ? `${node}: ` : ''}${msg ?? ''}${fields ? `  ${fields}` : ''}`
}

/** A pino destination writing formatLogLine's text to stderr (synchronously, as pino.destination(2) does). */
export function textLogStream(fd = 2): { write(line: string): void } {
  return {
    write(line: string) {
      for (const l of line.split('\n')) if (l) writeSync(fd, formatLogLine(l) + '\n')
    },
  }
}
