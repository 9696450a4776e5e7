// Secrets (tokens) for flags: from the flag, from a file (--X-file PATH), or from the
// environment (WEFT_X, or WEFT_X_FILE naming a file). A value given on the command line is
// visible to every local user in `ps`; a file or the environment is not.
import { readFileSync } from 'node:fs'

export interface SecretSource {
  /** Flag name without dashes, e.g. "store-token"; its file flag is "<flag>-file". */
  flag: string
  /** The flag's value, if given. */
  value?: string
  /** The file flag's value, if given. */
  file?: string
  /** Environment variable, e.g. WEFT_STORE_TOKEN (its file form is WEFT_STORE_TOKEN_FILE). */
  envName: string
  env: Record<string, string | undefined>
}

/** A secret could not be read: the message names the flag and what to do. */
export class SecretError extends Error {
  override name = 'SecretError'
}

function fromFile(path: string, what: string): string {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new SecretError(
      `${what} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    )
  }
  // one line; editors and `echo` add a trailing newline
  const value = text.replace(/\r?\n$/, '')
  if (!value.trim()) throw new SecretError(`${what} ${path} is empty: write the token into it`)
  if (/[\r\n]/.test(value)) throw new SecretError(`${what} ${path} must hold the token on one line`)
  return value
}

/** The secret from the first source given (flag, file flag, env, env file); refuses two flags at once. */
export function readSecret(s: SecretSource): string | undefined {
  if (s.value !== undefined && s.file !== undefined) {
    throw new SecretError(`--${s.flag} and --${s.flag}-file do not go together: give one`)
  }
  if (s.value !== undefined) {
    if (!s.value.trim()) throw new SecretError(`--${s.flag} is empty`)
    return s.value
  }
  if (s.file !== undefined) return fromFile(s.file, `--${s.flag}-file`)
  const env = s.env[s.envName]
  if (env) return env
  const envFile = s.env[`${s.envName}_FILE`]
  if (envFile) return fromFile(envFile, `${s.envName}_FILE`)
  return undefined
}
