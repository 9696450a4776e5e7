// GET /v1/doctor: what is wrong on the path from a local sandbox (or this host) to a far
// endpoint, one problem per hop and cause. 200 whatever it finds (`ok` says); 404 when the
// network, sandbox or far end named does not exist; 501 when this agent has no doctor.
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { ownWords } from '../client-wording.ts'
import type { AgentApi } from '../deps.ts'
import { PROBLEM_CHECKS } from '../../doctor/types.ts'
import { ErrorSchema } from '../schemas.ts'

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
})

export const DoctorQuerySchema = z
  .object({
    network: z
      .string()
      .min(1)
      .optional()
      .openapi({ description: 'Limit to one network (name or id)' }),
    target: z
      .string()
      .min(1)
      .optional()
      .openapi({ description: 'A local sandbox or endpoint (name or id)', example: 'sb1' }),
    to: z
      .string()
      .min(1)
      .optional()
      .openapi({ description: 'The far end: an address or endpoint name', example: '10.0.1.3' }),
  })
  .strict()

const CHECKS = PROBLEM_CHECKS

export const DoctorReportSchema = z
  .object({
    ok: z.boolean(),
    node: z.string(),
    path: z.string().openapi({ example: 'sb1 in network blue to 10.0.1.3 (sb3 on n2)' }),
    problems: z.array(
      z.object({
        hop: z.string().openapi({ example: 'peer node n2' }),
        check: z.enum(CHECKS),
        cause: z.string(),
      }),
    ),
    checked: z.array(z.enum(CHECKS)),
  })
  .openapi('DoctorReport')

export function doctorRoutes(app: OpenAPIHono, api: AgentApi) {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/doctor',
      tags: ['system'],
      summary:
        'Diagnose the path from a local sandbox (or this host) to a far endpoint: one problem per hop and cause',
      request: { query: DoctorQuerySchema },
      responses: {
        200: json(DoctorReportSchema, 'What was checked and what is wrong (ok: nothing)'),
        400: json(ErrorSchema, 'Unknown or empty query parameter'),
        404: json(ErrorSchema, 'No such network, sandbox, endpoint or far end'),
        501: json(ErrorSchema, 'This agent has no doctor'),
      },
    }),
    async (c) => {
      if (!api.doctor)
        return c.json({ error: 'not_implemented', message: 'this agent has no doctor' }, 501)
      const report = await api.doctor(c.req.valid('query'))
      // causes quote errors of the store's HTTP client: said in our words, as everywhere in the API
      return c.json(
        { ...report, problems: report.problems.map((p) => ({ ...p, cause: ownWords(p.cause) })) },
        200,
      )
    },
  )
}
