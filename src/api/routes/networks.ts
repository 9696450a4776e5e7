// /v1/networks: create, list, inspect, remove, connect, disconnect.
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { unusableVtepReason } from '../../cluster/index.ts'
import { ValidationError } from '../../errors/index.ts'
import { ownWords } from '../client-wording.ts'
import type { AgentApi, EndpointStatus } from '../deps.ts'
import { dockerNetwork } from '../docker-shape.ts'
import { assertFitsStore } from '../store-limits.ts'
import {
  ConnectSchema,
  CreateNetworkSchema,
  DisconnectSchema,
  DockerNetworkSchema,
  EndpointSchema,
  ErrorSchema,
  NetworkRefParam,
} from '../schemas.ts'

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
})
const errors = {
  400: json(ErrorSchema, 'Bad input; nothing was changed'),
  404: json(ErrorSchema, 'No such network or endpoint'),
  409: json(ErrorSchema, 'Name, VNI, subnet or address taken, or network in use'),
  413: json(
    ErrorSchema,
    'The body, or the record it makes, is larger than the API or the cluster store takes; nothing was changed',
  ),
  503: json(ErrorSchema, 'The cluster store is unreachable'),
  507: json(
    ErrorSchema,
    "A disk is full (the cluster store's or this agent's): free space, then retry",
  ),
}

export const endpointJson = (e: EndpointStatus) => ({
  ...e.record,
  ...(e.status ? { status: e.status } : {}),
  ...(e.error ? { error: ownWords(e.error) } : {}),
})

/** An external VTEP must not be a weft node: its containers connect through weft itself. */
async function assertExternalVtep(api: AgentApi, vtep: string) {
  const nodes = new Map<string, string>()
  for (const n of await api.nodes()) if (n.record?.advertise) nodes.set(n.name, n.record.advertise)
  const why = unusableVtepReason(vtep, nodes)
  if (why) throw new ValidationError(why)
}

export function networkRoutes(app: OpenAPIHono, api: AgentApi) {
  const withEndpoints = async (n: Awaited<ReturnType<AgentApi['getNetwork']>>) =>
    dockerNetwork(n, await api.endpoints(n.id))

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/networks',
      tags: ['networks'],
      summary: 'List networks (Docker shape)',
      responses: { 200: json(z.array(DockerNetworkSchema), 'Networks'), 503: errors[503] },
    }),
    async (c) => {
      const [nets, eps] = await Promise.all([api.listNetworks(), api.endpoints()])
      return c.json(
        nets.map((n) =>
          dockerNetwork(
            n,
            eps.filter((e) => e.record.networkId === n.id),
          ),
        ),
        200,
      )
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/networks',
      tags: ['networks'],
      summary: 'Create an overlay network',
      request: {
        body: { content: { 'application/json': { schema: CreateNetworkSchema } }, required: true },
      },
      responses: {
        201: json(DockerNetworkSchema, 'Created'),
        400: errors[400],
        409: errors[409],
        413: errors[413],
        503: errors[503],
        507: errors[507],
      },
    }),
    async (c) => {
      const input = c.req.valid('json')
      assertFitsStore('network', input, 'shorten its labels and options')
      const net = await api.createNetwork(input)
      return c.json(dockerNetwork(net, []), 201)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/networks/{ref}',
      tags: ['networks'],
      summary: 'Inspect a network (Docker shape)',
      request: { params: NetworkRefParam },
      responses: {
        200: json(DockerNetworkSchema, 'The network'),
        404: errors[404],
        503: errors[503],
      },
    }),
    async (c) => c.json(await withEndpoints(await api.getNetwork(c.req.valid('param').ref)), 200),
  )

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/networks/{ref}',
      tags: ['networks'],
      summary: 'Remove a network without endpoints',
      request: { params: NetworkRefParam },
      responses: {
        200: json(z.object({ Id: z.string(), Name: z.string() }), 'Removed'),
        404: errors[404],
        409: errors[409],
        503: errors[503],
        507: errors[507],
      },
    }),
    async (c) => {
      const n = await api.removeNetwork(c.req.valid('param').ref)
      return c.json({ Id: n.id, Name: n.name }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/networks/{ref}/connect',
      tags: ['endpoints'],
      summary: 'Connect a sandbox on this node, or declare an external endpoint',
      request: {
        params: NetworkRefParam,
        body: { content: { 'application/json': { schema: ConnectSchema } }, required: true },
      },
      responses: {
        201: json(EndpointSchema, 'Connected and programmed'),
        400: errors[400],
        404: errors[404],
        409: errors[409],
        413: errors[413],
        503: errors[503],
        507: errors[507],
      },
    }),
    async (c) => {
      const body = c.req.valid('json')
      assertFitsStore('endpoint', body, 'shorten the sandbox path or the endpoint name')
      if (body.external) await assertExternalVtep(api, body.external.vtep)
      const ep = await api.connect({ network: c.req.valid('param').ref, ...body })
      return c.json(endpointJson(ep), 201)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/networks/{ref}/disconnect',
      tags: ['endpoints'],
      summary: 'Disconnect an endpoint',
      request: {
        params: NetworkRefParam,
        body: { content: { 'application/json': { schema: DisconnectSchema } }, required: true },
      },
      responses: {
        200: json(EndpointSchema, 'Disconnected'),
        400: errors[400],
        404: errors[404],
        503: errors[503],
        507: errors[507],
      },
    }),
    async (c) => {
      const ep = await api.disconnect(c.req.valid('param').ref, c.req.valid('json').endpoint)
      return c.json(endpointJson({ record: ep }), 200)
    },
  )
}
