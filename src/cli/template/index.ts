// Go-template --format strings, as Docker's CLI reads them: a hand-written subset of Go's
// text/template (lex.ts, parse.ts, exec.ts) plus Docker's functions (funcs.ts). No npm
// package does this fully: the one Go-template port on npm covers fields, if, range and
// index only, without pipelines, parentheses, variables or printing as Go does.
import { TemplateError } from './errors.ts'
import { checkFunctions, execute } from './exec.ts'
import { parseTemplate, type Node } from './parse.ts'

export { TemplateError } from './errors.ts'
export { goStruct } from './values.ts'

export interface Template {
  source: string
  render(data: unknown): string
}

/** Parse `source` (functions checked too); throws TemplateError when it is not a template. */
export function compileTemplate(source: string): Template {
  let nodes: Node[]
  try {
    nodes = parseTemplate(source)
    checkFunctions(nodes)
  } catch (e) {
    if (e instanceof TemplateError) throw new TemplateError(`template parsing error: ${e.message}`)
    throw e
  }
  return {
    source,
    render(data) {
      try {
        return execute(nodes, data)
      } catch (e) {
        if (e instanceof TemplateError) throw new TemplateError(`template: ${e.message}`)
        throw e
      }
    },
  }
}
