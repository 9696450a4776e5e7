// Go text/template's grammar, the subset Docker's --format users write: actions with
// pipelines (`.A.B`, `$v`, literals, functions, `( … )`, `|`), variables (`$x := …`), and
// if / else if / else, range (with `$i, $v :=` and else), with, end.
import { TemplateError } from './errors.ts'
import { lex, type Token } from './lex.ts'

export type Arg =
  | { t: 'field'; chain: string[] }
  | { t: 'var'; name: string; chain: string[] }
  | { t: 'lit'; value: string | number | boolean | null }
  | { t: 'func'; name: string }
  | { t: 'pipe'; pipe: Pipe; chain: string[] }

export interface Pipe {
  /** Variables the pipeline declares ($x := …) or assigns ($x = …). */
  decl: string[]
  assign: boolean
  cmds: Arg[][]
}

export interface BlockNode {
  t: 'if' | 'with' | 'range'
  pipe: Pipe
  list: Node[]
  otherwise?: Node[]
}

export type Node = { t: 'text'; text: string } | { t: 'action'; pipe: Pipe } | BlockNode

const BLOCKS = new Set(['if', 'with', 'range'])

class Parser {
  private i = 0
  constructor(private readonly toks: Token[]) {}

  private peek(): Token | undefined {
    return this.toks[this.i]
  }
  private next(): Token {
    const t = this.toks[this.i++]
    if (!t) throw new TemplateError('unexpected end of template')
    return t
  }
  private isPunct(v: string): boolean {
    const t = this.peek()
    return t?.kind === 'punct' && t.value === v
  }

  /** Nodes up to the end, or up to {{end}} / {{else…}} when inside a block. */
  list(inBlock: string | undefined): { nodes: Node[]; stop?: 'end' | 'else' } {
    const nodes: Node[] = []
    while (this.peek()) {
      const t = this.next()
      if (t.kind === 'text') {
        nodes.push({ t: 'text', text: t.value })
        continue
      }
      if (t.kind !== 'open') throw new TemplateError(`unexpected ${describe(t)}`)
      const first = this.peek()
      if (first?.kind === 'close') throw new TemplateError('missing value for command')
      if (first?.kind === 'word' && (first.value === 'end' || first.value === 'else')) {
        if (!inBlock) throw new TemplateError(`unexpected {{${first.value}}}`)
        this.next()
        if (first.value === 'end') this.close('end')
        return { nodes, stop: first.value }
      }
      if (first?.kind === 'word' && BLOCKS.has(first.value)) {
        this.next()
        nodes.push(this.block(first.value as 'if' | 'with' | 'range'))
        continue
      }
      const pipe = this.pipeline(false)
      this.close('command')
      nodes.push({ t: 'action', pipe })
    }
    if (inBlock)
      throw new TemplateError(`unexpected end of template: {{${inBlock}}} has no {{end}}`)
    return { nodes }
  }

  /** After {{if|with|range: the pipeline, the body, an optional else (or else if), end. */
  private block(kind: 'if' | 'with' | 'range'): Node {
    const pipe = this.pipeline(kind === 'range')
    this.close(kind)
    const body = this.list(kind)
    const node: Node = { t: kind, pipe, list: body.nodes }
    if (body.stop === 'else') {
      const chained = this.peek()
      if (
        chained?.kind === 'word' &&
        (chained.value === 'if' || chained.value === 'with') &&
        kind !== 'range'
      ) {
        // {{else if …}} is an if inside the else, sharing the one {{end}}
        this.next()
        node.otherwise = [this.block(chained.value)]
      } else {
        this.close('else')
        const rest = this.list(kind)
        if (rest.stop !== 'end') throw new TemplateError(`{{${kind}}} has two {{else}}`)
        node.otherwise = rest.nodes
      }
    }
    return node
  }

  private close(what: string): void {
    const t = this.next()
    if (t.kind !== 'close') throw new TemplateError(`unexpected ${describe(t)} in ${what}`)
  }

  private pipeline(inRange: boolean): Pipe {
    const decl: string[] = []
    let assign = false
    // $x := … / $x = … / (range only) $i, $v := …
    const save = this.i
    const v = this.peek()
    if (v?.kind === 'variable' && v.chain.length === 0) {
      this.next()
      if (this.isPunct(':=') || this.isPunct('=')) {
        assign = (this.next() as { value: string }).value === '='
        decl.push(v.name)
      } else if (inRange && this.isPunct(',')) {
        this.next()
        const w = this.next()
        if (w.kind !== 'variable' || w.chain.length)
          throw new TemplateError('range can only declare variables: {{range $i, $v := …}}')
        if (!this.isPunct(':=')) throw new TemplateError('expected := after {{range $i, $v')
        this.next()
        decl.push(v.name, w.name)
      } else {
        this.i = save
      }
    }
    const cmds: Arg[][] = [this.command()]
    while (this.isPunct('|')) {
      this.next()
      cmds.push(this.command())
    }
    return { decl, assign, cmds }
  }

  private command(): Arg[] {
    const args: Arg[] = []
    for (;;) {
      const t = this.peek()
      if (!t || t.kind === 'close' || (t.kind === 'punct' && (t.value === '|' || t.value === ')')))
        break
      args.push(this.operand())
    }
    if (!args.length) throw new TemplateError('missing value for command')
    return args
  }

  private operand(): Arg {
    const t = this.next()
    switch (t.kind) {
      case 'field':
        return { t: 'field', chain: t.chain }
      case 'variable':
        return { t: 'var', name: t.name, chain: t.chain }
      case 'string':
      case 'number':
        return { t: 'lit', value: t.value }
      case 'word':
        if (t.value === 'true' || t.value === 'false')
          return { t: 'lit', value: t.value === 'true' }
        if (t.value === 'nil') return { t: 'lit', value: null }
        if (BLOCKS.has(t.value) || t.value === 'end' || t.value === 'else')
          throw new TemplateError(`unexpected <${t.value}> in operand`)
        return { t: 'func', name: t.value }
      case 'punct':
        if (t.value === '(') {
          const pipe = this.pipeline(false)
          const c = this.next()
          if (c.kind !== 'punct' || c.value !== ')')
            throw new TemplateError(`unclosed left paren: found ${describe(c)}`)
          const f = this.peek()
          const chain = f?.kind === 'field' && f.glued ? (this.next(), f.chain) : []
          return { t: 'pipe', pipe, chain }
        }
        throw new TemplateError(`unexpected "${t.value}" in operand`)
      default:
        throw new TemplateError(`unexpected ${describe(t)} in operand`)
    }
  }
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'close':
      return '"}}"'
    case 'open':
      return '"{{"'
    case 'text':
      return `text ${JSON.stringify(t.value)}`
    case 'field':
      return `<.${t.chain.join('.')}>`
    case 'variable':
      return `<$${t.name}>`
    case 'punct':
      return `"${t.value}"`
    default:
      return `<${String(t.value)}>`
  }
}

export function parseTemplate(src: string): Node[] {
  return new Parser(lex(src)).list(undefined).nodes
}
