// One structured logger (pino, JSON lines on stderr). Modules take it as a dependency.
import pino from 'pino'

export type Logger = pino.Logger

export function createLogger(opts: { level?: string; name?: string } = {}): Logger {
  return pino(
    {
      level: opts.level ?? process.env.WEFT_LOG_LEVEL ?? 'info',
      base: opts.name ? { node: opts.name } : undefined,
    },
    pino.destination(2),
  )
}
