// `weft endpoint ls` rows, in-process: published ports as `docker ps` shows them (when the
// record has them), the status of endpoints on other nodes, and the table's columns.
import { expect, test } from 'bun:test'
import { endpointRow, endpointTable } from '../../src/cli/endpoint-ls.ts'
import type { Endpoint } from '../../src/cli/_types.ts'

const ep = (over: Partial<Endpoint>): Endpoint => ({
  id: 'a'.repeat(64),
  networkId: 'b'.repeat(64),
  name: 'web',
  ip: '10.0.0.2',
  mac: '02:42:0a:00:00:02',
  node: 'h1',
  external: false,
  created: '2026-01-01T00:00:00.000Z',
  ...over,
})

test('published ports read HOST_IP:HOST_PORT->CONTAINER_PORT/proto, 0.0.0.0 for every address', () => {
  const row = endpointRow({
    ep: ep({
      status: 'attached',
      ports: [
        { proto: 'tcp', hostPort: 8080, containerPort: 80 },
        { proto: 'udp', hostIp: '198.18.0.1', hostPort: 53, containerPort: 5353 },
      ],
    }),
    network: 'blue',
  })
  expect(row.Ports).toBe('0.0.0.0:8080->80/tcp, 198.18.0.1:53->5353/udp')
  expect(row.Status).toBe('attached')
  expect(row.ID).toBe('a'.repeat(12))
  expect(endpointRow({ ep: ep({}), network: 'blue' }, true).ID).toBe('a'.repeat(64))
})

test('no status from this node: "remote", or "external" for an endpoint behind a VTEP', () => {
  expect(endpointRow({ ep: ep({}), network: 'n' }).Status).toBe('remote')
  const ext = ep({ external: true, node: undefined, vtep: '198.18.0.9' })
  expect(endpointRow({ ep: ext, network: 'n' }).Status).toBe('external')
  expect(endpointTable([{ ep: ext, network: 'n' }]).split('\n')[1]).toMatch(
    /^a{12} +web +n +10\.0\.0\.2 +02:42:0a:00:00:02 +\(vtep 198\.18\.0\.9\) +external$/,
  )
})

test('the table has docker ps-like columns', () => {
  expect(endpointTable([]).split('\n')[0]).toBe(
    'ENDPOINT ID   NAME      NETWORK   ADDRESS   MAC       NODE      PORTS     STATUS',
  )
})
