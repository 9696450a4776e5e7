// Answers for requests no route takes: 405 with an Allow header when the path exists under
// another method, else 404. Both in the API's { error, message } shape.
import type { Context, Hono } from 'hono'
import { apiError } from './errors.ts'

interface RouteLike {
  method: string
  path: string
}

const patternOf = (path: string) =>
  new RegExp(
    `^${path
      .split('/')
      .map((s) => (s.startsWith(':') ? '[^/]+' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/')}/?$`,
  )

/** Methods the app's routes accept for `path` (HEAD wherever GET is). */
export function allowedMethods(routes: readonly RouteLike[], path: string): string[] {
  const methods = new Set<string>()
  for (const r of routes) {
    if (r.method === 'ALL' || r.path.includes('*')) continue // middleware, not a route
    if (patternOf(r.path).test(path)) methods.add(r.method.toUpperCase())
  }
  if (methods.has('GET')) methods.add('HEAD')
  return [...methods].sort()
}

export function notFoundHandler(app: Hono<any, any, any>) {
  return (c: Context) => {
    const allow = allowedMethods(app.routes, c.req.path)
    if (allow.length > 0) {
      c.header('Allow', allow.join(', '))
      return apiError(
        c,
        405,
        'method_not_allowed',
        `${c.req.path} does not take ${c.req.method}: use ${allow.join(', ')} (see /openapi.json)`,
      )
    }
    return apiError(
      c,
      404,
      'not_found',
      `no route ${c.req.method} ${c.req.path}: see /openapi.json`,
    )
  }
}
