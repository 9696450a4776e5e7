// The plugin socket and the Docker Engine client over real unix sockets (no root, no dockerd):
// each driver interface's error field (NetworkDriver "Err", IpamDriver "Error": a wrong one is
// read by Docker as success), faults as 500, unknown methods as Docker's 404 text, and Docker's
// API errors carried with its own message.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConflictError, NotFoundError } from '../../src/errors/index.ts'
import { createLogger } from '../../src/log.ts'
import { DockerApiError, DockerEngine } from '../../src/docker/engine.ts'
import { servePlugin, type PluginServer } from '../../src/docker/server.ts'

const dir = mkdtempSync(join(tmpdir(), 'weft-docker-unit-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('plugin socket', () => {
  let server: PluginServer
  const socket = join(dir, 'plugins', 'weft.sock')
  const handlers: Record<string, (b: any) => Promise<Record<string, unknown>>> = {
    'Plugin.Activate': async () => ({ Implements: ['NetworkDriver', 'IpamDriver'] }),
    'NetworkDriver.CreateNetwork': async () => {
      throw new ConflictError('subnet 10.0.0.0/24 overlaps weft network a')
    },
    'IpamDriver.RequestAddress': async () => {
      throw new ConflictError('address 10.0.0.3 is already in use')
    },
    'NetworkDriver.Join': async () => {
      throw new Error('rtnetlink: no buffer space')
    },
    'NetworkDriver.Echo': async (b) => ({ got: b }),
  }
  const post = async (method: string, body?: string) => {
    const r = await fetch(`http://plugin/${method}`, {
      method: 'POST',
      unix: socket,
      body,
    } as RequestInit)
    return { status: r.status, text: await r.text() }
  }

  beforeAll(() => {
    server = servePlugin(socket, (m) => handlers[m], createLogger({ level: 'silent' }))
  })
  afterAll(() => server.stop())

  test('answers JSON calls, with an empty body too', async () => {
    expect(await post('Plugin.Activate')).toEqual({
      status: 200,
      text: '{"Implements":["NetworkDriver","IpamDriver"]}',
    })
    expect(JSON.parse((await post('NetworkDriver.Echo', '{"a":1}')).text)).toEqual({
      got: { a: 1 },
    })
  })

  test("a refusal goes in the interface's own error field", async () => {
    expect(await post('NetworkDriver.CreateNetwork', '{}')).toEqual({
      status: 200,
      text: '{"Err":"subnet 10.0.0.0/24 overlaps weft network a"}',
    })
    expect(await post('IpamDriver.RequestAddress', '{}')).toEqual({
      status: 200,
      text: '{"Error":"address 10.0.0.3 is already in use"}',
    })
  })

  test('a fault is a 500 with its cause; unknown methods and bad JSON are told apart', async () => {
    const fault = await post('NetworkDriver.Join', '{}')
    expect(fault.status).toBe(500)
    expect(JSON.parse(fault.text).Err).toBe(
      'weft: NetworkDriver.Join failed: rtnetlink: no buffer space',
    )
    expect(await post('NetworkDriver.ProgramExternalConnectivityV2', '{}')).toEqual({
      status: 404,
      text: '404 page not found\n',
    })
    const bad = await post('NetworkDriver.Echo', '{nope')
    expect(bad.status).toBe(400)
    expect(JSON.parse(bad.text).Err).toContain('request body is not JSON')
  })

  test('stop removes the socket', async () => {
    const other = servePlugin(
      join(dir, 'x.sock'),
      () => undefined,
      createLogger({ level: 'silent' }),
    )
    await other.stop()
    expect(await Bun.file(join(dir, 'x.sock')).exists()).toBe(false)
  })
})

describe('Docker Engine client', () => {
  const socket = join(dir, 'docker.sock')
  let docker: ReturnType<typeof Bun.serve>
  beforeAll(() => {
    docker = Bun.serve({
      unix: socket,
      fetch(req) {
        const path = new URL(req.url).pathname
        if (path === '/networks/gone')
          return Response.json({ message: 'network gone not found' }, { status: 404 })
        if (path === '/networks/create')
          return Response.json({ message: 'network with name x already exists' }, { status: 409 })
        if (path === '/networks/here')
          return Response.json({ Id: 'here', Name: 'x', Driver: 'weft' })
        return new Response('nope', { status: 500 })
      },
    })
  })
  afterAll(() => docker.stop(true))

  test("reads, and carries Docker's own message on errors", async () => {
    const e = new DockerEngine(`unix://${socket}`)
    expect((await e.network('here')).Name).toBe('x')
    await expect(e.network('gone')).rejects.toBeInstanceOf(NotFoundError)
    const conflict = await e.createNetwork({} as never).catch((x: unknown) => x)
    expect(conflict).toBeInstanceOf(DockerApiError)
    expect((conflict as DockerApiError).status).toBe(409)
    expect((conflict as Error).message).toContain('network with name x already exists')
    await e.removeNetwork('gone') // missing is fine
  })

  test('an unreachable Docker says where it looked; a non-unix address is refused', async () => {
    await expect(
      new DockerEngine(`unix://${join(dir, 'none.sock')}`).networks('weft'),
    ).rejects.toThrow(/unreachable: .*is dockerd running/)
    expect(() => new DockerEngine('tcp://127.0.0.1:2375')).toThrow(/must be unix:\/\/\/PATH/)
  })
})
