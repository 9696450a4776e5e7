// Request and response schemas: the same zod objects validate requests and generate
// /openapi.json.
import { z } from '@hono/zod-openapi'
import {
  EndpointRecord,
  PublishedPortRecord,
  unusableSubnetReason,
  unusableVtepReason,
} from '../cluster/index.ts'

/** A string field refused with `reason(value)` when that says why it cannot work. */
const usable = (reason: (v: string) => string | undefined) =>
  z.string().superRefine((v, ctx) => {
    const why = reason(v)
    if (why) ctx.addIssue({ code: 'custom', message: why })
  })

const stringMap = z.record(z.string(), z.string())

export const ErrorSchema = z
  .object({ error: z.string().openapi({ example: 'network_not_found' }), message: z.string() })
  .openapi('Error')

export const CreateNetworkSchema = z
  .object({
    name: z.string().min(1).openapi({ example: 'backend' }),
    driver: z
      .literal('overlay')
      .optional()
      .openapi({ description: 'Only "overlay" (the default)' }),
    subnet: usable(unusableSubnetReason).optional().openapi({
      example: '10.0.1.0/24',
      description:
        'IPv4 CIDR outside reserved, loopback, link-local, multicast and "this network" space',
    }),
    gateway: z.string().optional().openapi({ example: '10.0.1.1' }),
    ipRange: z.string().optional().openapi({ example: '10.0.1.128/25' }),
    vni: z.number().int().optional().openapi({ example: 256 }),
    mtu: z.number().int().optional().openapi({ example: 1450 }),
    internal: z
      .boolean()
      .optional()
      .openapi({ description: 'No way out: no default route, no NAT, nothing leaves the overlay' }),
    labels: stringMap.optional(),
    options: stringMap.optional(),
  })
  .strict()
  .openapi('CreateNetwork')

export const ConnectSchema = z
  .object({
    sandbox: z
      .string()
      .min(1)
      .max(4096, 'sandbox is longer than a path can be (4096 bytes)')
      .optional()
      .openapi({
        description: 'Network namespace on this node: ip-netns name, /proc/PID/ns/net, or a path',
        example: 'web1',
      }),
    ip: z.string().optional().openapi({ example: '10.0.1.10' }),
    ifname: z
      .string()
      .min(1)
      .max(15, 'ifname is at most 15 characters (the kernel limit)')
      .optional()
      .openapi({
        description: 'Interface name inside the sandbox (default: the lowest ethN free there)',
        example: 'eth1',
      }),
    publish: z.array(PublishedPortRecord.strict()).max(64).optional().openapi({
      description:
        "Ports published on this node's addresses (docker run -p); a host port published twice on a node is 409",
    }),
    name: z.string().min(1).optional().openapi({
      description:
        'The name the endpoint resolves by inside the network (default: the ip-netns name)',
      example: 'web1',
    }),
    aliases: z
      .array(z.string().min(1))
      .max(32)
      .optional()
      .openapi({
        description: "More names it resolves by inside the network (as Docker's --network-alias)",
        example: ['web'],
      }),
    external: z
      // a weft node's own address is refused by the route, which knows the nodes
      .object({
        name: z.string().min(1),
        mac: z.string(),
        vtep: usable((v) => unusableVtepReason(v, [])),
      })
      .strict()
      .optional()
      .openapi({ description: 'An endpoint behind a VTEP that does not run weft' }),
  })
  .strict()
  .openapi('Connect')

export const DisconnectSchema = z
  .object({
    endpoint: z
      .string()
      .min(1)
      .openapi({ description: 'Sandbox or external endpoint name', example: 'web1' }),
  })
  .strict()
  .openapi('Disconnect')

export const NetworkRefParam = z.object({
  ref: z
    .string()
    .min(1)
    .openapi({ param: { name: 'ref', in: 'path' }, description: 'Network name, id or id prefix' }),
})

export const DockerNetworkSchema = z
  .object({
    Name: z.string(),
    Id: z.string(),
    Created: z.string(),
    Scope: z.string(),
    Driver: z.string(),
    EnableIPv6: z.boolean(),
    IPAM: z.object({
      Driver: z.string(),
      Options: z.null(),
      Config: z.array(
        z.object({ Subnet: z.string(), Gateway: z.string(), IPRange: z.string().optional() }),
      ),
    }),
    Internal: z.boolean(),
    Attachable: z.boolean(),
    Containers: z.record(
      z.string(),
      z.object({
        Name: z.string(),
        EndpointID: z.string(),
        MacAddress: z.string(),
        IPv4Address: z.string(),
        IPv6Address: z.string(),
        Node: z.string().nullable(),
        External: z.boolean(),
        VTEP: z.string().optional(),
        Status: z.string().optional(),
        Error: z.string().optional(),
        Ports: z
          .array(z.string())
          .optional()
          .openapi({ description: 'Published ports, HOST_IP:HOST_PORT->CONTAINER_PORT/proto' }),
      }),
    ),
    Options: stringMap,
    Labels: stringMap,
  })
  .openapi('Network')

/** The stored endpoint record plus this node's attach status. */
export const EndpointSchema = EndpointRecord.extend({
  status: z.enum(['attached', 'failed', 'pending', 'gone']).optional(),
  error: z.string().optional(),
}).openapi('Endpoint')

export const NodeSchema = z
  .object({
    name: z.string(),
    alive: z.boolean(),
    endpoints: z.number().int(),
    status: z
      .enum(['Ready', 'Down', 'Unknown'])
      .optional()
      .openapi({ description: 'Unknown while this agent cannot reach the store' }),
    statusReason: z.string().optional(),
    advertise: z.string().optional(),
    datapath: z.string().optional(),
    version: z.string().optional(),
    started: z.string().optional(),
    probe: z
      .object({
        state: z.enum(['up', 'down', 'unknown']),
        vtep: z.string(),
        rttMs: z.number().optional(),
        loss: z.number(),
        pathMtu: z.number().int().optional(),
        mtuTarget: z.number().int(),
      })
      .optional()
      .openapi({
        description:
          "This agent's probes of the node's datapath: up while its BPF answers, even with its agent down",
      }),
  })
  .openapi('Node')

export const VniStatsSchema = z
  .object({
    vni: z.number().int(),
    network: z.string().optional(),
    txPackets: z.string(),
    txBytes: z.string(),
    rxPackets: z.string(),
    rxBytes: z.string(),
    drops: z.record(z.string(), z.string()),
    outPackets: z
      .string()
      .optional()
      .openapi({ description: 'Way out: packets that left every weft network through this host' }),
    outBytes: z.string().optional(),
    published: z
      .array(
        z.object({
          port: z.string(),
          ip: z.string(),
          connections: z.string(),
          packets: z.string(),
          bytes: z.string(),
        }),
      )
      .optional()
      .openapi({
        description:
          "Ports published on this host to the network's endpoints, with their traffic towards them",
      }),
  })
  .openapi('VniStats')

export const HealthSchema = z
  .object({
    ok: z.boolean(),
    node: z.string(),
    store: z.object({
      reachable: z.boolean(),
      lastError: z.string().optional(),
      unreachableSince: z
        .string()
        .optional()
        .openapi({ description: 'While the store does not answer: since when (ISO time)' }),
      lastContact: z
        .string()
        .optional()
        .openapi({ description: "The store's last answer (ISO time)" }),
    }),
    datapath: z.string(),
    reconcile: z.object({
      passes: z.number(),
      lastDurationMs: z.number(),
      lastError: z.string().nullable(),
      failures: z
        .array(
          z.object({
            kind: z.string(),
            key: z.string(),
            subject: z.string(),
            op: z.string(),
            error: z.string(),
            since: z.string(),
            attempts: z.number().int(),
          }),
        )
        .optional()
        .openapi({
          description:
            'Items the reconciler cannot program now: which, the operation, why, since when',
        }),
    }),
    disk: z
      .object({ full: z.literal(true), since: z.string(), lastError: z.string() })
      .optional()
      .openapi({
        description:
          'Present while writes fail for a full disk (since the first, until one succeeds)',
      }),
  })
  .openapi('Health')
