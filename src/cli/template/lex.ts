// Go text/template's lexer, the part Docker's --format uses: text between actions, and inside
// {{ }} fields, variables, strings, numbers, words, ( ) | , := =. "{{- " and " -}}" trim the
// whitespace next to the action; {{/* comments */}} vanish.
import { TemplateError } from './errors.ts'

export type Token =
  | { kind: 'text'; value: string }
  | { kind: 'open' }
  | { kind: 'close' }
  /** ".Name.Sub" (chain ["Name","Sub"]); "." alone is chain []. `glued`: right after ")". */
  | { kind: 'field'; chain: string[]; glued: boolean }
  /** "$x.Sub": name "x" ("" for $), chain ["Sub"]. */
  | { kind: 'variable'; name: string; chain: string[] }
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'word'; value: string }
  | { kind: 'punct'; value: '(' | ')' | '|' | ',' | ':=' | '=' }

const WORD = /^[A-Za-z_][A-Za-z0-9_]*/
const FIELD = /^(\.[A-Za-z_][A-Za-z0-9_]*)+|^\./
const VARIABLE = /^\$([A-Za-z_][A-Za-z0-9_]*)?((?:\.[A-Za-z_][A-Za-z0-9_]*)*)/
const NUMBER = /^[+-]?(0x[0-9a-fA-F]+|\d+(\.\d+)?([eE][+-]?\d+)?)/

const chainOf = (s: string) => s.split('.').filter(Boolean)

export function lex(src: string): Token[] {
  const out: Token[] = []
  let i = 0
  while (i < src.length) {
    const open = src.indexOf('{{', i)
    let text = open < 0 ? src.slice(i) : src.slice(i, open)
    if (open < 0) {
      if (text) out.push({ kind: 'text', value: text })
      break
    }
    let j = open + 2
    // "{{- " trims the text before it (the dash must be followed by a space)
    if (src[j] === '-' && /\s/.test(src[j + 1] ?? '')) {
      text = text.replace(/\s+$/, '')
      j += 1
    }
    if (text) out.push({ kind: 'text', value: text })
    const action = lexAction(src, j, out)
    j = action.end
    // " -}}" trims the text after it
    if (action.trimAfter) while (j < src.length && /\s/.test(src[j]!)) j++
    i = j
  }
  return out
}

/** Tokens of one action starting at `i` (after "{{"); `end` is the index after "}}". */
function lexAction(src: string, i: number, out: Token[]): { end: number; trimAfter: boolean } {
  const start = i
  const at = () => `at column ${i + 1}`
  // a comment is the whole action: {{/* … */}}
  const lead = /^\s*/.exec(src.slice(i))![0].length
  if (src.startsWith('/*', i + lead)) {
    const end = src.indexOf('*/', i + lead + 2)
    if (end < 0) throw new TemplateError(`unclosed comment ${at()}`)
    const close = /^(\s+-)?}}/.exec(src.slice(end + 2))
    if (!close) throw new TemplateError(`a comment must end right before "}}" ${at()}`)
    return { end: end + 2 + close[0].length, trimAfter: close[1] !== undefined }
  }
  out.push({ kind: 'open' })
  let prev = ''
  while (true) {
    if (i >= src.length) throw new TemplateError(`unclosed action starting at column ${start - 1}`)
    const c = src[i]!
    if (/\s/.test(c)) {
      // " -}}" closes and trims what follows
      const m = /^\s+-}}/.exec(src.slice(i))
      if (m) {
        out.push({ kind: 'close' })
        return { end: i + m[0].length, trimAfter: true }
      }
      i++
      prev = ' '
      continue
    }
    if (src.startsWith('}}', i)) {
      out.push({ kind: 'close' })
      return { end: i + 2, trimAfter: false }
    }
    const tail = src.slice(i)
    let m: RegExpExecArray | null
    if (c === '"') {
      const s = /^"((?:[^"\\\n]|\\.)*)"/.exec(tail)
      if (!s) throw new TemplateError(`unterminated quoted string ${at()}`)
      out.push({ kind: 'string', value: unquote(s[1]!) })
      i += s[0].length
    } else if (c === '`') {
      const end = src.indexOf('`', i + 1)
      if (end < 0) throw new TemplateError(`unterminated raw quoted string ${at()}`)
      out.push({ kind: 'string', value: src.slice(i + 1, end) })
      i = end + 1
    } else if (c === '.' && (m = FIELD.exec(tail))) {
      out.push({ kind: 'field', chain: chainOf(m[0]), glued: prev === ')' })
      i += m[0].length
    } else if (c === '$' && (m = VARIABLE.exec(tail))) {
      out.push({ kind: 'variable', name: m[1] ?? '', chain: chainOf(m[2] ?? '') })
      i += m[0].length
    } else if ((m = NUMBER.exec(tail)) && !/[A-Za-z_]/.test(tail[m[0].length] ?? '')) {
      out.push({ kind: 'number', value: Number(m[0]) })
      i += m[0].length
    } else if ((m = WORD.exec(tail))) {
      out.push({ kind: 'word', value: m[0] })
      i += m[0].length
    } else if (tail.startsWith(':=')) {
      out.push({ kind: 'punct', value: ':=' })
      i += 2
    } else if ('()|,='.includes(c)) {
      out.push({ kind: 'punct', value: c as '(' | ')' | '|' | ',' | '=' })
      i += 1
    } else {
      throw new TemplateError(`unexpected "${c}" in action ${at()}`)
    }
    prev = c === ')' ? ')' : 'x'
  }
}

function unquote(s: string): string {
  return s.replace(/\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)/g, (_, e: string) => {
    if (e[0] === 'u' || e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16))
    const map: Record<string, string> = {
      n: '\n',
      t: '\t',
      r: '\r',
      '\\': '\\',
      '"': '"',
      "'": "'",
      '0': '\0',
    }
    const v = map[e]
    if (v === undefined)
      throw new TemplateError(`unknown escape sequence \\${e} in a quoted string`)
    return v
  })
}
