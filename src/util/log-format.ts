// Which log format to use by default (no dependencies: the CLI's start path reads it).

/** json: pino's lines, for machines; text: one readable line per entry, for a person at a terminal. */
export type LogFormat = 'json' | 'text'

/** text when stderr is a terminal (or WEFT_LOG_FORMAT=text), else json. */
export function defaultLogFormat(
  env: Record<string, string | undefined> = process.env,
  stderrIsTty = !!process.stderr.isTTY,
): LogFormat {
  if (env.WEFT_LOG_FORMAT === 'text' || env.WEFT_LOG_FORMAT === 'json') return env.WEFT_LOG_FORMAT
  return stderrIsTty ? 'text' : 'json'
}
