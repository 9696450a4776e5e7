// Runs a parsed template against a value, with Go's rules: dot moves into with/range,
// variables live until the end of their block, a method (a function-valued field) is
// called with the arguments that follow it, a pipeline's value is the last argument of the
// next command.
import { TemplateError } from './errors.ts'
import { FUNCS, type TemplateFunc } from './funcs.ts'
import type { Arg, BlockNode, Node, Pipe } from './parse.ts'
import { field, isMap, isStruct, show, truthy, typeName } from './values.ts'

interface Scope {
  vars: { name: string; value: unknown }[]
  funcs: Record<string, TemplateFunc>
}

const NONE = Symbol('no piped value')

/** Every function the template names exists (checked before any data is fetched). */
export function checkFunctions(nodes: Node[], funcs: Record<string, TemplateFunc> = FUNCS): void {
  const pipe = (p: Pipe) => p.cmds.forEach((c) => c.forEach(arg))
  const arg = (a: Arg) => {
    if (a.t === 'func' && !Object.prototype.hasOwnProperty.call(funcs, a.name)) {
      throw new TemplateError(`function "${a.name}" not defined`)
    }
    if (a.t === 'pipe') pipe(a.pipe)
  }
  for (const n of nodes) {
    if (n.t === 'action') pipe(n.pipe)
    if (n.t === 'if' || n.t === 'with' || n.t === 'range') {
      pipe(n.pipe)
      checkFunctions(n.list, funcs)
      if (n.otherwise) checkFunctions(n.otherwise, funcs)
    }
  }
}

export function execute(
  nodes: Node[],
  data: unknown,
  funcs: Record<string, TemplateFunc> = FUNCS,
): string {
  const scope: Scope = { vars: [{ name: '', value: data }], funcs }
  let out = ''
  const emit = (s: string) => {
    out += s
  }
  runList(nodes, data, scope, emit)
  return out
}

function runList(nodes: Node[], dot: unknown, scope: Scope, emit: (s: string) => void): void {
  for (const n of nodes) {
    if (n.t === 'text') emit(n.text)
    else if (n.t === 'action') {
      const v = evalPipe(n.pipe, dot, scope)
      if (!n.pipe.decl.length) emit(show(v))
    } else {
      const mark = scope.vars.length
      try {
        if (n.t === 'range') runRange(n, dot, scope, emit)
        else {
          const v = evalPipe(n.pipe, dot, scope)
          if (truthy(v)) runList(n.list, n.t === 'with' ? v : dot, scope, emit)
          else if (n.otherwise) runList(n.otherwise, dot, scope, emit)
        }
      } finally {
        scope.vars.length = mark
      }
    }
  }
}

function runRange(n: BlockNode, dot: unknown, scope: Scope, emit: (s: string) => void): void {
  // the pipeline's declared variables are the loop's, not assigned by evalPipe
  const v = evalPipe({ ...n.pipe, decl: [] }, dot, scope)
  let items: [unknown, unknown][]
  if (v === undefined || v === null) items = []
  else if (Array.isArray(v)) items = v.map((x, i) => [i, x])
  else if (isMap(v))
    items = Object.keys(v)
      .sort()
      .map((k) => [k, v[k]])
  else if (typeof v === 'number' && Number.isInteger(v))
    items = Array.from({ length: Math.max(0, v) }, (_, i) => [i, i])
  else
    throw new TemplateError(
      `range can't iterate over ${isStruct(v) ? 'a struct' : typeName(v)} ${show(v)}`,
    )
  if (!items.length) {
    if (n.otherwise) runList(n.otherwise, dot, scope, emit)
    return
  }
  const mark = scope.vars.length
  for (const [k, x] of items) {
    scope.vars.length = mark
    const [a, b] = n.pipe.decl
    if (n.pipe.decl.length === 1) scope.vars.push({ name: a!, value: x })
    if (n.pipe.decl.length === 2) scope.vars.push({ name: a!, value: k }, { name: b!, value: x })
    runList(n.list, x, scope, emit)
  }
}

function lookupVar(name: string, scope: Scope): { name: string; value: unknown } {
  for (let i = scope.vars.length - 1; i >= 0; i--)
    if (scope.vars[i]!.name === name) return scope.vars[i]!
  throw new TemplateError(`undefined variable "$${name}"`)
}

function evalPipe(pipe: Pipe, dot: unknown, scope: Scope): unknown {
  let v: unknown = NONE
  for (const cmd of pipe.cmds) v = evalCommand(cmd, dot, scope, v)
  if (pipe.decl.length) {
    const name = pipe.decl[0]!
    if (pipe.assign) lookupVar(name, scope).value = v
    else scope.vars.push({ name, value: v })
  }
  return v
}

function evalCommand(args: Arg[], dot: unknown, scope: Scope, piped: unknown): unknown {
  const first = args[0]!
  const extra = () => [
    ...args.slice(1).map((a) => evalArg(a, dot, scope)),
    ...(piped === NONE ? [] : [piped]),
  ]
  if (first.t === 'func') {
    const f = scope.funcs[first.name]
    if (!f) throw new TemplateError(`function "${first.name}" not defined`)
    return f(...extra())
  }
  // a method call: the last field of the chain is a function, given the rest as arguments
  const hasChain =
    (first.t === 'field' || first.t === 'var' || first.t === 'pipe') && first.chain.length > 0
  if (hasChain) {
    const chain = first.chain
    const receiver = walk(root(first, dot, scope), chain.slice(0, -1), first)
    const last = chain[chain.length - 1]!
    const m = field(receiver, last, where(first))
    if (typeof m === 'function') return (m as TemplateFunc).call(receiver, ...extra())
    if (args.length > 1 || piped !== NONE)
      throw new TemplateError(`${where(first)}: can't give argument to non-function .${last}`)
    return m
  }
  if (args.length > 1 || piped !== NONE) {
    throw new TemplateError(
      `${where(first)}: can't give argument to non-function ${describeArg(first)}`,
    )
  }
  return evalArg(first, dot, scope)
}

function root(a: Arg, dot: unknown, scope: Scope): unknown {
  if (a.t === 'field') return dot
  if (a.t === 'var') return lookupVar(a.name, scope).value
  if (a.t === 'pipe') return evalPipe(a.pipe, dot, scope)
  throw new TemplateError(`unexpected ${describeArg(a)}`)
}

function walk(v: unknown, chain: string[], a: Arg): unknown {
  let cur = v
  for (const name of chain) {
    const next = field(cur, name, where(a))
    cur = typeof next === 'function' ? (next as TemplateFunc).call(cur) : next
  }
  return cur
}

function evalArg(a: Arg, dot: unknown, scope: Scope): unknown {
  switch (a.t) {
    case 'lit':
      return a.value
    case 'func': {
      const f = scope.funcs[a.name]
      if (!f) throw new TemplateError(`function "${a.name}" not defined`)
      return f()
    }
    default:
      return walk(root(a, dot, scope), a.chain, a)
  }
}

const describeArg = (a: Arg): string =>
  a.t === 'field'
    ? a.chain.length
      ? `.${a.chain.join('.')}`
      : '.'
    : a.t === 'var'
      ? `$${a.name}${a.chain.map((c) => `.${c}`).join('')}`
      : a.t === 'lit'
        ? show(a.value)
        : a.t === 'func'
          ? a.name
          : '(…)'

const where = (a: Arg) => `executing at <${describeArg(a)}>`
