// `weft agent --docker` flags into config, in-process and without root: the Docker API socket
// and the plugin socket, and what a wrong one is told. Nothing here starts an agent.
import { describe, expect, test } from 'bun:test'
import { parseAgentConfig, type AgentFlags } from '../../src/agent/config.ts'

const parse = (f: AgentFlags) => parseAgentConfig({ name: 'n1', advertise: '192.0.2.10', ...f }, {})

describe('agent --docker', () => {
  test('off by default; on with Docker API socket, plugin socket defaulting in the plugin', async () => {
    expect((await parse({})).docker).toBeUndefined()
    const c = await parse({ docker: 'unix:///var/run/docker.sock' })
    expect([c.docker, c.dockerPluginSocket]).toEqual(['unix:///var/run/docker.sock', undefined])
    const t = await parse({
      docker: 'unix:///tmp/d.sock',
      'docker-plugin-socket': '/tmp/plugins/weft.sock',
    })
    expect(t.dockerPluginSocket).toBe('/tmp/plugins/weft.sock')
  })

  test('a Docker address that is not a unix socket, or a plugin socket without --docker, is refused', async () => {
    await expect(parse({ docker: 'tcp://127.0.0.1:2375' })).rejects.toThrow(
      /must be unix:\/\/\/PATH/,
    )
    await expect(parse({ docker: '/var/run/docker.sock' })).rejects.toThrow(
      /must be unix:\/\/\/PATH/,
    )
    await expect(parse({ 'docker-plugin-socket': '/tmp/weft.sock' })).rejects.toThrow(
      /needs --docker/,
    )
    await expect(
      parse({ docker: 'unix:///x.sock', 'docker-plugin-socket': 'weft.sock' }),
    ).rejects.toThrow(/absolute path/)
  })
})
